"""Fetching from a local-directory bucket: the fetch engine's side of :class:`.LocalStore`.

Two jobs: open a key below the bucket's root without following any symlink planted in it
(:class:`_Beneath`), and copy its bytes through the engine's sink in one pass, so every byte
is checked against the manifest as it is written (:func:`_copy_range`).
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import FetchItem, NotFound, StoreError
from .transfer import RangeSink, Unit, run_fetch

__all__ = ["fetch_local"]

_READ_CHUNK = 256 << 10  # bytes per read of a fetch: checksummed while in the CPU cache
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def fetch_local(
    root: Path,
    url: str,
    items: Sequence[FetchItem],
    *,
    workers: int,
    slice_bytes: int,
    progress: Callable[[int], None] | None,
    on_item: Callable[[FetchItem], None] | None,
    cancel: threading.Event | None,
    on_range: Callable[[FetchItem, int, int, int | None], None] | None,
) -> None:
    """:meth:`~modelfleet.store.RemoteStore.fetch` from the directory ``root``."""
    try:
        beneath = _Beneath(root)
    except OSError as exc:
        raise StoreError(f"{url}: {exc.strerror or exc}") from None

    def fetch_range(unit: Unit, sink: RangeSink) -> None:
        what = f"{url}/{unit.item.key}"
        fd = beneath.open(unit.item.key, what)
        try:
            _copy_range(fd, sink, unit.start, unit.end, what)
        finally:
            os.close(fd)

    try:
        run_fetch(
            items,
            fetch_range,
            workers=workers,
            slice_bytes=_local_slice(items, slice_bytes),
            progress=progress,
            on_item=on_item,
            cancel=cancel,
            on_range=on_range,
        )
    finally:
        beneath.close()


def _local_slice(items: Sequence[FetchItem], slice_bytes: int) -> int:
    """Slices of a local file: about one per CPU, never smaller than ``slice_bytes``.

    Slicing a remote object buys one more stream at the bucket's per-connection rate; here
    every slice writes the same destination file, and buffered writes to one file take its
    inode lock in turn, so more slices than CPUs (to read and checksum in parallel) only
    add contention (bench/pull.py: 2 slices of a 512 MiB file beat 16 on 2 CPUs).
    """
    largest = max((item.size for item in items), default=0)
    return max(slice_bytes, -(-largest // (os.cpu_count() or 1)))


class _Beneath:
    """Open files under a root without following any symlink below it.

    Every component is opened relative to its parent with ``O_NOFOLLOW`` (directory fds are
    kept for the whole fetch), so a symlink planted in the bucket can never make the puller
    copy a file from elsewhere on the host — and a key costs one ``openat``, not the dozen
    ``lstat`` calls of resolving its path. The root itself may be a symlink.
    """

    def __init__(self, root: Path) -> None:
        self._dirs = {"": os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)}
        self._lock = threading.RLock()

    def _dir(self, parts: list[str]) -> int:
        key = "/".join(parts)
        with self._lock:
            fd = self._dirs.get(key)
            if fd is None:
                parent = self._dir(parts[:-1])
                fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
                self._dirs[key] = fd
            return fd

    def open(self, key: str, what: str) -> int:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"invalid key {key!r}")
        try:
            return os.open(parts[-1], _FILE_FLAGS, dir_fd=self._dir(parts[:-1]))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{what} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(f"{what}: a symlink; refused") from None
            raise StoreError(f"{what}: {exc.strerror or exc}") from None

    def close(self) -> None:
        with self._lock:
            for fd in self._dirs.values():
                os.close(fd)
            self._dirs.clear()


def _copy_range(fd_in: int, sink: RangeSink, start: int, end: int, what: str) -> None:
    """Copy ``[start, end)`` through ``sink.write``, which checksums what it writes.

    One pass: each chunk is read once, checksummed and written from the same bytes while it is
    still in the CPU cache. An in-kernel copy (copy_file_range, as ``cp`` does) writes bytes
    the puller never sees, and checking them then costs a second pass reading them back:
    about a third more CPU for the whole pull (bench/pull.py). 256 KiB reads stay in the
    cache between the checksum and the write; larger ones measured slower.
    """
    offset = start
    while offset < end:
        data = os.pread(fd_in, min(_READ_CHUNK, end - offset), offset)
        if not data:
            raise StoreError(f"{what} is shorter than {end} bytes")
        sink.write(data)
        offset += len(data)
