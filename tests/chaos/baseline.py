"""The caller as it was before it used gRPC's own machinery: the chaos suite's baseline.

One default (pick-first) channel per node address, a hand-written round robin that skips for
``eject_seconds`` a node whose last call could not connect, and no retry: every call in
flight to, or routed to, a node that dies fails. The chaos suite runs it next to
:class:`modelfleet.loadgen.predictor.Predictor`, at the same rate and through the same faults,
so each scenario's figure comes with the baseline of the same run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from modelfleet.tfserving.channel import ChannelPolicy
from modelfleet.tfserving.client import TFServingClient
from modelfleet.tfserving.errors import KillSwitchOpen, TFServingError
from modelfleet.tfserving.killswitch import KillSwitchClient

__all__ = ["BaselinePredictor"]


class BaselinePredictor:
    """Callable for :func:`modelfleet.loadgen.run_load`, like the pre-gRPC-machinery caller."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        model: str,
        inputs: dict[str, Any],
        timeout: float = 1.0,
        connect_timeout: float = 0.6,
        eject_seconds: float = 2.0,
        window_seconds: float = 10.0,
        min_requests: int = 20,
        open_seconds: float = 60.0,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.eject_seconds = eject_seconds
        self.targets = list(targets)
        # One channel per address and no retry policy: what the caller did before.
        no_retry = ChannelPolicy(connect_timeout=connect_timeout, retry_attempts=1)
        self.clients = {
            t: TFServingClient(t, timeout=timeout, policy=no_retry) for t in self.targets
        }
        self.timeout = timeout
        # One killswitch over the whole service; calls go through switch.call with our clients.
        self.switch = KillSwitchClient(
            "tfserving-baseline",
            client=self.clients[self.targets[0]],
            window_seconds=window_seconds,
            min_requests=min_requests,
            open_seconds=open_seconds,
        )
        self._rr = itertools.cycle(range(len(self.targets)))
        self._ejected: dict[str, float] = {}
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
        return "ok", target

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
