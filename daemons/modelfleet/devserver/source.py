"""The file-system source: which versions of each configured model are aspired.

TF Serving's FileSystemStoragePathSource polls every model's base path every
``--file_system_poll_wait_seconds`` (default 1 s) and tells the manager the versions to
aspire (sources/storage_path/file_system_storage_path_source.cc). Reproduced here because
the config manager lives with its consequences:

- a new config does not load anything by itself: a version added to an existing model is
  aspired at the next poll, up to one poll interval after HandleReloadConfigRequest returned;
- a model removed from the config is un-aspired at once (``update_config``);
- ``specific`` aspires the listed versions whose directory exists, ``latest`` the
  ``num_versions`` highest, ``all`` every version; only all-digit names are versions;
- a version whose directory disappears is un-aspired at the next poll (so it gets unloaded),
  and a base path that cannot be listed changes nothing for that model.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from ..logsetup import kv
from ..tfserving.config import ModelEntry

__all__ = ["FileSystemSource", "aspired_versions", "versions_on_disk"]

log = logging.getLogger(__name__)

AspiredCallback = Callable[[str, str, list[int]], None]  # (model, base_path, versions)


def versions_on_disk(base_path: str) -> list[int] | None:
    """All-digit subdirectories of ``base_path``; None if it cannot be listed."""
    try:
        with os.scandir(base_path) as it:
            names = [e.name for e in it if e.is_dir()]
    except OSError:
        return None
    return sorted(int(n) for n in names if n.isascii() and n.isdigit() and int(n) < 2**63)


def aspired_versions(entry: ModelEntry) -> list[int] | None:
    """What the source aspires for ``entry`` now; None when its base path is unreadable."""
    on_disk = versions_on_disk(entry.base_path)
    if on_disk is None:
        return None
    if entry.policy == "specific":
        return sorted(set(entry.versions) & set(on_disk))
    if entry.policy == "all":
        return on_disk
    return on_disk[-max(1, entry.latest_count) :]


class FileSystemSource:
    """Polls the configured base paths and calls ``callback`` with each model's versions."""

    def __init__(self, callback: AspiredCallback, poll_wait: float = 1.0) -> None:
        self.callback = callback
        self.poll_wait = poll_wait
        self._lock = threading.Lock()
        # One poll or config update at a time, callbacks included (TF Serving holds its
        # source's mutex the same way): a poll that read the old config must not report a
        # model after an update removed it, or the removed model stays aspired for good.
        self._turn = threading.RLock()
        self._config: dict[str, ModelEntry] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreadable: set[str] = set()

    @property
    def config(self) -> dict[str, ModelEntry]:
        with self._lock:
            return dict(self._config)

    def update_config(self, entries: list[ModelEntry]) -> None:
        """Replace the monitored models; models left out are un-aspired now."""
        with self._turn:
            with self._lock:
                removed = [m for m in self._config if m not in {e.name for e in entries}]
                old = self._config
                self._config = {e.name: e for e in entries}
            for model in removed:
                self.callback(model, old[model].base_path, [])

    def poll(self) -> None:
        """One pass over every configured model (also the first, synchronous one at start)."""
        with self._turn:
            self._poll()

    def _poll(self) -> None:
        for name, entry in sorted(self.config.items()):
            versions = aspired_versions(entry)
            if versions is None:
                if name not in self._unreadable:
                    log.error(
                        "cannot list base path", extra=kv(model=name, base_path=entry.base_path)
                    )
                    self._unreadable.add(name)
                continue
            self._unreadable.discard(name)
            if entry.policy == "specific":
                missing = sorted(set(entry.versions) - set(versions))
                if missing:
                    log.debug("specific versions not on disk yet", extra=kv(model=name))
            self.callback(name, entry.base_path, versions)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fs-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_wait):
            try:
                self.poll()
            except Exception:  # the poller must survive anything, as TF Serving's does
                log.exception("file system poll failed")

    def stop(self) -> None:
        self._stop.set()
