"""A killswitch (circuit breaker) for TF Serving callers, as the RUNBOOK's search tier had.

The RUNBOOK's Elasticsearch caller waited at most 600 ms for a connection; once more than
25 % of its recent requests failed it flipped a killswitch that stopped every call for 60 s,
then tried again and flipped back at once if calls still failed. That kept a TF Serving
outage from tying up every caller thread. :class:`KillSwitch` is that state machine (pure,
with an injectable clock), :class:`KillSwitchClient` wraps :class:`TFServingClient` with it
and exports Prometheus metrics on a registry the caller passes in.

The killswitch guards the whole service, as the RUNBOOK's did: give it the service name
(``logginrec.mlmodels.icfsys.com:8500``, dialled as ``dns:///…`` with round robin over every
node, see :mod:`.channel`). A call counts as failed only once gRPC's own retry of
``UNAVAILABLE`` on another node failed too, so one node dying does not move the switch; a
fleet-wide outage still opens it within the window.

States: ``closed`` (calls go through, outcomes recorded in a sliding time window) →
``open`` (calls fail fast with :class:`KillSwitchOpen`, nothing is sent) after
``open_seconds`` → ``half_open``: exactly one probe call goes through; success closes the
switch, failure opens it again for another ``open_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .channel import ChannelPolicy
from .client import TFServingClient
from .errors import KillSwitchOpen, TFServingError
from .proto import serving_pb2

__all__ = ["KillSwitch", "KillSwitchClient", "KillSwitchMetrics"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_STATE_VALUE = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}


class KillSwitch:
    """Sliding-window failure-ratio breaker; thread-safe, no I/O, clock injectable."""

    def __init__(
        self,
        *,
        failure_ratio: float = 0.25,
        window_seconds: float = 10.0,
        min_requests: int = 20,
        open_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        if not 0.0 <= failure_ratio < 1.0:
            raise ValueError("failure_ratio must be in [0, 1)")
        if window_seconds <= 0 or open_seconds <= 0 or min_requests < 1:
            raise ValueError("window_seconds, open_seconds and min_requests must be positive")
        self.failure_ratio = failure_ratio
        self.window_seconds = window_seconds
        self.min_requests = min_requests
        self.open_seconds = open_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._events: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._failures = 0
        self._state = CLOSED
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.trips = 0

    @property
    def state(self) -> str:
        with self._lock:
            self._advance()
            return self._state

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when closed)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def _set(self, state: str) -> None:
        old, self._state = self._state, state
        if old != state and self._on_change is not None:
            self._on_change(old, state)

    def _advance(self) -> None:
        if self._state == OPEN and self._clock() >= self._opened_at + self.open_seconds:
            self._set(HALF_OPEN)
            self._probe_in_flight = False

    def _trim(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._events and self._events[0][0] < horizon:
            _, failed = self._events.popleft()
            self._failures -= failed

    def allow(self) -> bool:
        """May a call go out now? In ``half_open`` only one probe is let through."""
        with self._lock:
            self._advance()
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record(self, ok: bool) -> None:
        """Record the outcome of a call that :meth:`allow` let through."""
        with self._lock:
            now = self._clock()
            if self._state == HALF_OPEN:
                self._probe_in_flight = False
                self._events.clear()
                self._failures = 0
                if ok:
                    self._set(CLOSED)
                else:
                    self._trip(now)
                return
            if self._state == OPEN:
                return  # a call that started before the switch opened
            self._events.append((now, not ok))
            self._failures += not ok
            self._trim(now)
            total = len(self._events)
            if total >= self.min_requests and self._failures / total > self.failure_ratio:
                self._trip(now)

    def _trip(self, now: float) -> None:
        self._opened_at = now
        self.trips += 1
        self._events.clear()
        self._failures = 0
        self._set(OPEN)


class KillSwitchMetrics:
    """The killswitch metrics on one registry; share one instance between clients."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "modelfleet_killswitch_requests_total",
            "Calls through the killswitch client by outcome (ok, error, blocked).",
            ["target", "outcome"],
            registry=self.registry,
        )
        self.trips = Counter(
            "modelfleet_killswitch_trips_total",
            "Times the killswitch opened.",
            ["target"],
            registry=self.registry,
        )
        self.state = Gauge(
            "modelfleet_killswitch_state",
            "Killswitch state: 0 closed, 1 open, 2 half-open (probing).",
            ["target"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelfleet_killswitch_request_seconds",
            "Latency of calls that went out, by outcome.",
            ["target", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.6, 1.0, 2.5, 5.0),
            registry=self.registry,
        )


def _default_is_failure(exc: TFServingError) -> bool:
    """Every error counts except a malformed request, which says nothing about the server."""
    return exc.code != "INVALID_ARGUMENT"


class KillSwitchClient:
    """Predict (and status) through a killswitch; blocked calls raise :class:`KillSwitchOpen`."""

    def __init__(
        self,
        target: str,
        *,
        connect_timeout: float = 0.6,
        timeout: float = 1.0,
        failure_ratio: float = 0.25,
        window_seconds: float = 10.0,
        min_requests: int = 20,
        open_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: KillSwitchMetrics | None = None,
        registry: CollectorRegistry | None = None,
        is_failure: Callable[[TFServingError], bool] = _default_is_failure,
        client: TFServingClient | None = None,
        policy: ChannelPolicy | None = None,
    ) -> None:
        self.target = target
        self.client = client or TFServingClient(
            target, timeout=timeout, policy=policy or ChannelPolicy(connect_timeout=connect_timeout)
        )
        self.metrics = metrics or KillSwitchMetrics(registry)
        self.is_failure = is_failure
        self._clock = clock
        self.switch = KillSwitch(
            failure_ratio=failure_ratio,
            window_seconds=window_seconds,
            min_requests=min_requests,
            open_seconds=open_seconds,
            clock=clock,
            on_change=self._changed,
        )
        self.metrics.state.labels(target).set(0)

    def _changed(self, _old: str, new: str) -> None:
        self.metrics.state.labels(self.target).set(_STATE_VALUE[new])
        if new == OPEN:
            self.metrics.trips.labels(self.target).inc()

    @property
    def state(self) -> str:
        state = self.switch.state
        self.metrics.state.labels(self.target).set(_STATE_VALUE[state])
        return state

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a call on :attr:`client`) through the killswitch."""
        if not self.switch.allow():
            self.metrics.requests.labels(self.target, "blocked").inc()
            raise KillSwitchOpen(self.target, self.switch.retry_in())
        started = self._clock()
        try:
            result = fn()
        except TFServingError as exc:
            failed = self.is_failure(exc)
            self.switch.record(not failed)
            outcome = "error"
            self.metrics.requests.labels(self.target, outcome).inc()
            self.metrics.latency.labels(self.target, outcome).observe(self._clock() - started)
            raise
        self.switch.record(True)
        self.metrics.requests.labels(self.target, "ok").inc()
        self.metrics.latency.labels(self.target, "ok").observe(self._clock() - started)
        return result

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        label: str | None = None,
        signature: str = "serving_default",
        output_filter: Sequence[str] = (),
        dtype: str = "float32",
        timeout: float | None = None,
    ) -> serving_pb2.PredictResponse:
        return self.call(
            lambda: self.client.predict(
                model,
                inputs,
                version=version,
                label=label,
                signature=signature,
                output_filter=output_filter,
                dtype=dtype,
                timeout=timeout,
            )
        )

    def close(self) -> None:
        self.client.close()
