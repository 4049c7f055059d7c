"""The desired state for status and triage, read from the bucket within a deadline.

Status, triage and the drain guard must answer from the registry and the node calls even
when the bucket is sick (a GCS client retries for up to a minute). One background thread
reads the document; a caller waits at most its deadline, then uses the last copy it has
(saying how old) or nothing. A read still in flight is shared, never duplicated, so a hung
bucket holds one thread, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from ..contracts.cluster import DesiredSource
from ..desired import DesiredState, RemoteDesired
from ..names import shown

__all__ = ["DesiredCache"]


class DesiredCache:
    def __init__(
        self,
        read: Callable[[], RemoteDesired],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: Future[RemoteDesired] | None = None
        self._last: tuple[RemoteDesired, float] | None = None

    def _start(self) -> Future[RemoteDesired]:
        with self._lock:
            if self._pending is None or self._pending.done():
                future: Future[RemoteDesired] = Future()
                # A daemon thread: a read hung in a sick bucket never holds up shutdown.
                threading.Thread(
                    target=self._run, args=(future,), name="desired-read", daemon=True
                ).start()
                self._pending = future
            return self._pending

    def _run(self, future: Future[RemoteDesired]) -> None:
        try:
            future.set_result(self._read())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    def get(self, deadline: float) -> tuple[DesiredState | None, DesiredSource]:
        """The desired state (None when unknown) and where it came from, within ``deadline``."""
        future = self._start()
        try:
            fresh = future.result(timeout=max(deadline, 0.0))
        except FutureTimeout:
            return self._fallback(f"the bucket did not answer within {deadline:g}s")
        except Exception as exc:  # any failure of the bucket read: fall back, say why
            return self._fallback(shown(str(exc) or type(exc).__name__, 200))
        with self._lock:
            self._last = (fresh, self._clock())
        return fresh.state_or_empty, DesiredSource("bucket", fresh.generation)

    def _fallback(self, error: str) -> tuple[DesiredState | None, DesiredSource]:
        with self._lock:
            last = self._last
        if last is None:
            return None, DesiredSource("none", 0, None, error)
        remote, at = last
        age = round(self._clock() - at, 1)
        return remote.state_or_empty, DesiredSource("cache", remote.generation, age, error)

    def close(self) -> None:
        """Nothing to stop: a read in flight ends with its daemon thread."""
