"""The aspired-versions manager: turn "versions the source wants" into loads and unloads.

TF Serving's AspiredVersionsManager (core/aspired_versions_manager.cc) with its default
AvailabilityPreservingPolicy, reproduced because the config manager depends on its timing:

- a manager thread runs every ``manage_interval`` (TF Serving: 100 ms) and does, in order:
  forget harnesses that are not aspired and new / disabled / failed ("flush"), apply the
  pending aspired-versions requests, then take ONE action over all models — unloads before
  loads;
- per model the policy unloads the lowest un-aspired AVAILABLE version only once an aspired
  version is AVAILABLE (or nothing is aspired, or several un-aspired versions are up), so a
  failing new version never takes the old one down; it loads the highest new aspired
  version;
- a request that re-aspires a version still on its way out waits until that version is
  flushed (TF Serving postpones it the same way);
- a version that failed stays failed while it is aspired: it is not retried until it is
  un-aspired, flushed, and aspired again;
- ``num_load_threads == 0`` (TF Serving's default) runs every load inside the manager
  thread, retries included: while one version fails and retries, no other model loads or
  unloads. With threads, loads run in a pool of that size.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .harness import Harness, RetryPolicy, StateMonitor
from .loader import Loader, Servable

__all__ = ["AspiredVersionsManager"]

log = logging.getLogger(__name__)

_FLUSHABLE = ("new", "disabled", "error")


class AspiredVersionsManager:
    def __init__(
        self,
        loader: Loader,
        monitor: StateMonitor,
        *,
        retry: RetryPolicy,
        num_load_threads: int = 0,
        num_unload_threads: int = 0,
        manage_interval: float = 0.1,
    ) -> None:
        self.loader = loader
        self.monitor = monitor
        self.retry = retry
        self.manage_interval = manage_interval
        self._lock = threading.RLock()
        self._harnesses: dict[str, dict[int, Harness]] = {}
        self._pending: dict[str, tuple[str, list[int]]] = {}
        self._stopping = threading.Event()
        self._loads = ThreadPoolExecutor(num_load_threads) if num_load_threads > 0 else None
        self._unloads = ThreadPoolExecutor(num_unload_threads) if num_unload_threads > 0 else None
        self._thread = threading.Thread(target=self._run, name="manager", daemon=True)

    # -- the source's side ---------------------------------------------------------------

    def set_aspired(self, model: str, base_path: str, versions: list[int]) -> None:
        """The aspired-versions callback: the latest request per model wins."""
        with self._lock:
            self._pending[model] = (base_path, sorted(versions))

    # -- the manager thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for pool in (self._loads, self._unloads):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stopping.wait(self.manage_interval):
            try:
                self.tick()
            except Exception:  # the manager loop must survive anything
                log.exception("manager tick failed")

    def tick(self) -> None:
        """One round of TF Serving's ManageState: flush, pending requests, one action."""
        with self._lock:
            self._flush()
            self._handle_pending()
            action = self._next_action()
            if action is None:
                return
            kind, harness = action
            harness.state = "load_requested" if kind == "load" else "quiescing"
        if kind == "load":
            self._run_in(self._loads, self._load, harness)
        else:
            self._run_in(self._unloads, self._unload, harness)

    def _run_in(self, pool: ThreadPoolExecutor | None, fn: object, harness: Harness) -> None:
        assert callable(fn)
        if pool is None:
            fn(harness)  # inline, in the manager thread, as with TF Serving's default
        else:
            pool.submit(fn, harness)

    def _load(self, harness: Harness) -> None:
        harness.load(self.loader, self.retry)

    def _unload(self, harness: Harness) -> None:
        harness.unload()

    def _flush(self) -> None:
        for versions in self._harnesses.values():
            for v in [v for v, h in versions.items() if not h.aspired and h.state in _FLUSHABLE]:
                del versions[v]
        for model in [m for m, vs in self._harnesses.items() if not vs]:
            del self._harnesses[model]

    def _handle_pending(self) -> None:
        for model in list(self._pending):
            base_path, wanted = self._pending[model]
            current = self._harnesses.get(model, {})
            if any(v in current and not current[v].aspired for v in wanted):
                continue  # re-aspired version still on its way out: wait for the flush
            del self._pending[model]
            for v, h in current.items():
                if v not in wanted and h.aspired:
                    h.aspired = False
                    h.cancel_retries()
            added = [v for v in wanted if v not in current]
            if added:
                versions = self._harnesses.setdefault(model, {})
                for v in added:
                    versions[v] = Harness(
                        model, v, Path(base_path) / str(v), self.monitor, self._stopping
                    )

    def _next_action(self) -> tuple[str, Harness] | None:
        loads: list[Harness] = []
        for _model, versions in sorted(self._harnesses.items()):
            action = _policy(list(versions.values()))
            if action is None:
                continue
            if action[0] == "unload":
                return action
            loads.append(action[1])
        return ("load", loads[0]) if loads else None

    # -- queries ------------------------------------------------------------------------------

    def available(self, model: str) -> dict[int, Servable]:
        with self._lock:
            return {
                v: h.servable
                for v, h in self._harnesses.get(model, {}).items()
                if h.state == "ready" and h.servable is not None
            }

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


def _policy(versions: list[Harness]) -> tuple[str, Harness] | None:
    """TF Serving's AvailabilityPreservingPolicy for one model's versions."""
    has_aspired = any(h.aspired for h in versions)
    aspired_ready = any(h.aspired and h.state == "ready" for h in versions)
    unaspired_ready = [h for h in versions if not h.aspired and h.state == "ready"]
    if unaspired_ready and (not has_aspired or aspired_ready or len(unaspired_ready) > 1):
        return "unload", min(unaspired_ready, key=lambda h: h.version)
    new = [h for h in versions if h.aspired and h.state == "new"]
    if new:
        return "load", max(new, key=lambda h: h.version)
    return None
