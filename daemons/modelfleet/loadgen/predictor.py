"""Predict calls to the serving fleet through one channel and one killswitch, like the caller.

The RUNBOOK's caller reaches TF Serving through a DNS name with one A record per node and
guards the whole service with ONE killswitch. This module does the same with gRPC's own
machinery (:mod:`modelfleet.tfserving.channel`): one channel to ``dns:///name:8500`` (or to a
static ``ipv4:`` address list), ``round_robin`` over every address, a retry of ``UNAVAILABLE``
on another node, and every call counted by the shared
:class:`~modelfleet.tfserving.killswitch.KillSwitchClient`.

Which node answered is the servers' business: each node counts its own calls
(``:tensorflow:serving:request_count`` on its metrics endpoint), which is what drains and the
chaos suite read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tfserving.channel import ChannelPolicy, grpc_target
from ..tfserving.client import TFServingClient
from ..tfserving.errors import KillSwitchOpen, TFServingError
from ..tfserving.killswitch import KillSwitchClient, KillSwitchMetrics

__all__ = ["Predictor"]


class Predictor:
    """Callable for :func:`modelfleet.loadgen.run_load`: ``predictor(i) -> (outcome, target)``.

    ``targets``: a DNS name (``name:8500``), a gRPC URI, or a list of ``ip:port`` (the nodes
    of a local fleet); a list becomes one static ``ipv4:`` channel.
    """

    def __init__(
        self,
        targets: str | Sequence[str],
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
        policy: ChannelPolicy | None = None,
        metrics: KillSwitchMetrics | None = None,
    ) -> None:
        spec = targets if isinstance(targets, str) else ",".join(targets)
        if not spec.strip():
            raise ValueError("no targets")
        self.target = grpc_target(spec)
        self.model = model
        self.inputs = inputs
        self.timeout = timeout
        self.client = TFServingClient(
            self.target,
            timeout=timeout,
            policy=policy or ChannelPolicy(connect_timeout=connect_timeout),
        )
        self.switch = KillSwitchClient(
            service,
            client=self.client,
            failure_ratio=failure_ratio,
            window_seconds=window_seconds,
            min_requests=min_requests,
            open_seconds=open_seconds,
            metrics=metrics,
        )

    def trips(self) -> int:
        return int(self.switch.metrics.trips.labels(self.switch.target)._value.get())

    def __call__(self, _i: int) -> tuple[str, str]:
        try:
            self.switch.predict(self.model, self.inputs, timeout=self.timeout)
        except KillSwitchOpen:
            return "killswitch", self.target
        except TFServingError as exc:
            return ("timeout" if exc.code == "DEADLINE_EXCEEDED" else "error"), self.target
        return "ok", self.target

    def close(self) -> None:
        self.client.close()
