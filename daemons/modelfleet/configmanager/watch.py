"""Wake the reconcile loop as soon as the local model directory changes.

inotify on LOCAL, ``LOCAL/.modelfleet`` and every model directory reports a version landing
(the puller's rename) or the local desired document being replaced within milliseconds. A
fingerprint poll behind it (every 2 s with inotify, 0.25 s without) catches anything
inotify could not watch (a model directory created between two scans, a filesystem
without inotify).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..localdir import LocalModelDir
from ..node.inotify import DirWatcher

__all__ = ["LocalWatcher"]


class LocalWatcher:
    def __init__(
        self, local: LocalModelDir, wake: Callable[[], None], stop: threading.Event, poll: float
    ) -> None:
        self.local = local
        self.wake = wake
        self.stop = stop
        self.poll = poll
        self._fingerprint: Any = None

    def run(self) -> None:
        watcher = DirWatcher()
        period = min(2.0 if watcher.available else 0.25, self.poll)
        try:
            while not self.stop.is_set():
                self._watch_dirs(watcher)
                if watcher.available:
                    watcher.wait(period)  # returns at once on a change
                elif self.stop.wait(period):
                    break
                fingerprint = self._fingerprint_now()
                if fingerprint != self._fingerprint:
                    if self._fingerprint is not None:
                        self.wake()
                    self._fingerprint = fingerprint
        finally:
            watcher.close()

    def _watch_dirs(self, watcher: DirWatcher) -> None:
        if not watcher.available:
            return
        watcher.forget_missing()
        watcher.watch(self.local.root)
        watcher.watch(self.local.meta)
        with contextlib.suppress(OSError), os.scandir(self.local.root) as it:
            for entry in it:
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    watcher.watch(Path(entry.path))

    def _fingerprint_now(self) -> Any:
        items = []
        try:
            with os.scandir(self.local.root) as it:
                for entry in it:
                    if not entry.name.startswith("."):
                        items.append((entry.name, entry.stat(follow_symlinks=False).st_mtime_ns))
        except OSError:
            return None
        try:
            st = self.local.desired_path.stat()
            desired = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            desired = None
        return desired, sorted(items)
