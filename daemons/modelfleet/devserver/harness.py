"""One servable version's life cycle, and the state monitor GetModelStatus reads.

TF Serving keeps a *harness* per managed version (core/loader_harness.cc) and publishes
every state change on an event bus that a ServableStateMonitor records. Reproduced here:

- states walk new → loading → ready → quiescing → unloading → disabled, or loading → error;
  the monitor reports them as START (managed), LOADING, AVAILABLE, UNLOADING and END, and
  END with the load's error status when a load failed;
- a failed load is retried ``max_num_load_retries`` times, ``load_retry_interval`` apart
  (core/util/retrier.cc): the version stays LOADING during the retries, and only the last
  failure ends it (END + error). TF Serving's defaults are 5 retries, 1 minute apart;
- retries stop when the version stops being aspired (``cancel_retries``), but as in TF
  Serving the interval already being slept is not interrupted: the next attempt runs, and
  its failure ends the version;
- the monitor keeps END entries, so a version that failed or was unloaded stays visible in
  GetModelStatus (only a model never seen is NOT_FOUND).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..logsetup import kv
from .loader import Loader, LoadError, Servable

__all__ = ["Harness", "RetryPolicy", "StateMonitor", "VersionRecord"]

log = logging.getLogger(__name__)


@dataclass
class VersionRecord:
    """One GetModelStatus row: state name and status (a tensorflow.error.Code name)."""

    version: int
    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """``--max_num_load_retries`` and ``--load_retry_interval_micros`` (in seconds here)."""

    max_retries: int = 5
    interval: float = 60.0


class StateMonitor:
    """model → version → last published state (TF Serving's ServableStateMonitor).

    Every publish gets a sequence number, so a waiter can look only at what happened after
    a point in time (TF Serving's reload uses a fresh monitor for the same reason: an old
    END of a version that is loaded again must not answer for the new load).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._states: dict[str, dict[int, tuple[int, VersionRecord]]] = {}
        self._seq = 0

    def publish(
        self, model: str, version: int, state: str, code: str = "OK", msg: str = ""
    ) -> None:
        with self._changed:
            self._seq += 1
            record = VersionRecord(version, state, code, msg)
            self._states.setdefault(model, {})[version] = (self._seq, record)
            self._changed.notify_all()

    def sequence(self) -> int:
        with self._changed:
            return self._seq

    def versions(self, model: str) -> dict[int, VersionRecord]:
        return self.since(model, 0)

    def since(self, model: str, mark: int) -> dict[int, VersionRecord]:
        """Copies of the rows of ``model`` published after sequence ``mark``."""
        with self._changed:
            return {
                v: VersionRecord(r.version, r.state, r.error_code, r.error_message)
                for v, (seq, r) in self._states.get(model, {}).items()
                if seq > mark
            }

    def models(self) -> list[str]:
        with self._changed:
            return sorted(self._states)

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``predicate()`` (checked after every publish) or the timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)


class Harness:
    """A managed version of one model; the manager drives it, one transition at a time."""

    def __init__(
        self,
        model: str,
        version: int,
        path: Path,
        monitor: StateMonitor,
        stopping: threading.Event,
    ) -> None:
        self.model = model
        self.version = version
        self.path = path
        self.state = "new"  # new, loading, ready, quiescing, unloading, disabled, error
        self.aspired = True
        self.servable: Servable | None = None
        self._monitor = monitor
        self._stopping = stopping
        self._retry = True
        self._lock = threading.Lock()
        monitor.publish(model, version, "START")

    def cancel_retries(self) -> None:
        """The version is no longer aspired: do not start another attempt after this one."""
        with self._lock:
            self._retry = False

    def _should_retry(self) -> bool:
        with self._lock:
            return self._retry and not self._stopping.is_set()

    def load(self, loader: Loader, policy: RetryPolicy) -> None:
        """Load with retries (runs in the manager loop or a load thread); never raises."""
        self.state = "loading"
        self._monitor.publish(self.model, self.version, "LOADING")
        attempt = 0
        while True:
            if attempt > 0:
                self._stopping.wait(policy.interval)
                log.info(
                    "retrying load",
                    extra=kv(model=self.model, version=self.version, retry=attempt),
                )
            try:
                servable = loader.load(self.path)
            except LoadError as exc:
                code, message = exc.code, exc.message
            except Exception as exc:  # a loader bug must not leave the version LOADING
                log.exception("loader crashed", extra=kv(model=self.model, version=self.version))
                code, message = "UNKNOWN", f"{type(exc).__name__}: {exc}"
            else:
                with self._lock:
                    cancelled = not self._retry
                if cancelled:
                    # Loaded after it stopped being wanted: TF Serving reports CANCELLED.
                    self._fail("CANCELLED", "Loading of servable cancelled")
                    return
                self.servable = servable
                self.state = "ready"
                self._monitor.publish(self.model, self.version, "AVAILABLE")
                log.info("version available", extra=kv(model=self.model, version=self.version))
                return
            attempt += 1
            log.warning(
                "version failed to load",
                extra=kv(model=self.model, version=self.version, code=code, error=message),
            )
            if attempt > policy.max_retries or not self._should_retry():
                self._fail(code, message)
                return

    def _fail(self, code: str, message: str) -> None:
        self.state = "error"
        self._monitor.publish(self.model, self.version, "END", code, message)

    def unload(self) -> None:
        """Quiesce then unload; in-flight requests keep their reference to the servable."""
        self.state = "unloading"
        self._monitor.publish(self.model, self.version, "UNLOADING")
        self.servable = None
        self.state = "disabled"
        self._monitor.publish(self.model, self.version, "END")
        log.info("version unloaded", extra=kv(model=self.model, version=self.version))
