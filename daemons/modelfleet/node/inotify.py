"""A minimal inotify watcher (Linux, ctypes): react to a directory change in milliseconds.

The config manager must notice a version the puller just renamed into place. Polling the
directory tree fast costs idle CPU on every node; polling it slowly costs propagation time
on every promote. inotify gives both: the loop sleeps until the kernel says something
changed. Where inotify is unavailable (not Linux, limits reached) :class:`DirWatcher` says so
and the caller falls back to polling.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
from pathlib import Path

__all__ = ["DirWatcher"]

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF


class DirWatcher:
    """Watch a set of directories (not recursive); ``wait(timeout)`` → True if any changed."""

    def __init__(self) -> None:
        self.fd = -1
        self._libc = None
        self._watched: dict[str, int] = {}
        name = ctypes.util.find_library("c") or "libc.so.6"
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                self._libc, self.fd = libc, fd

    @property
    def available(self) -> bool:
        return self.fd >= 0

    def watch(self, path: Path) -> bool:
        """Add ``path`` (idempotent); False when it cannot be watched (gone, limits)."""
        if not self.available:
            return False
        key = str(path)
        if key in self._watched:
            return True
        assert self._libc is not None
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(key), _MASK)
        if wd < 0:
            return False
        self._watched[key] = wd
        return True

    def forget_missing(self) -> None:
        """Drop directories that no longer exist (the kernel removed their watches)."""
        for key in [k for k in self._watched if not os.path.isdir(k)]:
            del self._watched[key]

    def wait(self, timeout: float) -> bool:
        """Block until a watched directory changes or ``timeout`` passes; drains events."""
        if not self.available:
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self.fd, 65536):
                pass
        return True

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
