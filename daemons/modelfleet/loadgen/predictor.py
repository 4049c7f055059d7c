"""Predict calls spread over the serving nodes behind one killswitch.

The RUNBOOK's caller reaches TF Serving through a DNS name with one A record per node and
guards the whole service with ONE killswitch. This module does the same: round-robin over
the resolved targets, skipping for ``eject_seconds`` a target whose last call could not even
connect (what gRPC's round_robin policy does with a subchannel in TRANSIENT_FAILURE), and
every call counted by the shared :class:`~modelfleet.tfserving.killswitch.KillSwitchClient`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..tfserving.client import TFServingClient
from ..tfserving.errors import KillSwitchOpen, TFServingError
from ..tfserving.killswitch import KillSwitchClient, KillSwitchMetrics

__all__ = ["Predictor"]


class Predictor:
    """Callable for :func:`modelfleet.loadgen.run_load`: ``predictor(i) -> (outcome, target)``."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        model: str,
        inputs: dict[str, Any],
        service: str = "tfserving",
        timeout: float = 1.0,
        connect_timeout: float = 0.6,
        failure_ratio: float = 0.25,
        window_seconds: float = 10.0,
        min_requests: int = 20,
        open_seconds: float = 60.0,
        eject_seconds: float = 2.0,
        metrics: KillSwitchMetrics | None = None,
    ) -> None:
        if not targets:
            raise ValueError("no targets")
        self.model = model
        self.inputs = inputs
        self.timeout = timeout
        self.eject_seconds = eject_seconds
        self.clients = {
            t: TFServingClient(t, timeout=timeout, connect_timeout=connect_timeout) for t in targets
        }
        self.targets = list(targets)
        self.switch = KillSwitchClient(
            service,
            client=self.clients[self.targets[0]],
            failure_ratio=failure_ratio,
            window_seconds=window_seconds,
            min_requests=min_requests,
            open_seconds=open_seconds,
            metrics=metrics,
        )
        self._rr = itertools.cycle(range(len(self.targets)))
        self._ejected: dict[str, float] = {}
        self.served: Counter[str] = Counter()  # successful calls per target, live
        self._lock = threading.Lock()

    def trips(self) -> int:
        return int(self.switch.metrics.trips.labels(self.switch.target)._value.get())

    def pick(self) -> str:
        now = time.monotonic()
        with self._lock:
            for _ in range(len(self.targets)):
                target = self.targets[next(self._rr)]
                if self._ejected.get(target, 0.0) <= now:
                    return target
            # Every target ejected: try one anyway (a probe), as gRPC would.
            return self.targets[next(self._rr)]

    def __call__(self, _i: int) -> tuple[str, str]:
        target = self.pick()
        client = self.clients[target]
        try:
            self.switch.call(lambda: client.predict(self.model, self.inputs, timeout=self.timeout))
        except KillSwitchOpen:
            return "killswitch", target
        except TFServingError as exc:
            if exc.unreachable:
                with self._lock:
                    self._ejected[target] = time.monotonic() + self.eject_seconds
            return ("timeout" if exc.code == "DEADLINE_EXCEEDED" else "error"), target
        with self._lock:
            self.served[target] += 1
        return "ok", target

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
