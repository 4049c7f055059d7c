"""The fetch engine both backends share: many files at once, large files in slices.

A version is a handful of files, often one or two large ``variables`` shards. Fetching them
one after another waits one round trip per file and leaves a large file at the speed of one
stream (GCS serves one connection at a bounded rate). Here every file becomes one or more
*units* — byte ranges — that a pool of ``workers`` threads runs largest first, each unit
opening the destination itself (creating it at full size) and writing at its own offset.
A large object is cut into about one slice per worker, and never slices smaller than
``slice_bytes``: each ranged request has a fixed cost (a round trip, and on some servers a
pass over the whole object), so fewer, larger slices that still keep every stream busy win.
The backend only says how to copy one range (:data:`RangeFetcher`).

Checking rides along: a :class:`RangeSink` keeps the CRC32C of the bytes written through it,
in order, so the caller can check a slice against the manifest without reading it back (one
pass over the data; the bytes checked are the bytes written). A backend that had the kernel
copy bytes (``advance``) leaves the slice unchecked (``crc`` None) and the caller reads it.

Cancellation is cooperative and prompt: every write goes through a :class:`RangeSink` that
raises :class:`~.base.Cancelled` as soon as the caller's event is set, so an obsolete pull
of a 1 GiB model stops within one network chunk, not at its end. The first failing unit
stops the others the same way, and its error is raised.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import google_crc32c

from .base import Cancelled, FetchItem

__all__ = ["RangeFetcher", "RangeSink", "Unit", "plan_units", "run_fetch"]


@dataclass(frozen=True)
class Unit:
    """Bytes ``[start, end)`` of one item; ``whole`` when the unit is the entire object."""

    item: FetchItem
    start: int
    end: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.item.size


class RangeSink:
    """Where one unit's bytes go: a file positioned at the unit's start.

    ``write`` is the file-like side (for HTTP clients that stream into a file object): it
    extends ``crc``, the CRC32C of every byte written so far, with the same bytes object it
    writes. ``advance`` reports bytes the backend wrote itself through ``fileno()`` (an
    in-kernel copy): those bytes were never seen, so ``crc`` becomes None. Both check for
    cancellation.
    """

    def __init__(
        self, fd: int, offset: int, progress: Callable[[int], None], stopped: Callable[[], bool]
    ) -> None:
        self._fd = fd
        self.offset = offset
        self._progress = progress
        self._stopped = stopped
        self.crc: int | None = 0

    def check(self) -> None:
        if self._stopped():
            raise Cancelled("fetch cancelled")

    def write(self, data: bytes) -> int:
        self.check()
        data = bytes(data)  # no copy for bytes; the C crc32c takes bytes (and frees the GIL)
        if self.crc is not None:
            self.crc = google_crc32c.extend(self.crc, data)
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self.offset)
            self.offset += n
            view = view[n:]
        self._progress(len(data))
        return len(data)

    def advance(self, n: int) -> None:
        self.crc = None
        self.offset += n
        self._progress(n)
        self.check()

    def fileno(self) -> int:
        return self._fd

    def flush(self) -> None:
        pass


RangeFetcher = Callable[[Unit, RangeSink], None]
"""Copy ``unit``'s bytes into ``sink`` (starting at ``sink.offset``); raise on failure."""


def plan_units(items: Sequence[FetchItem], slice_bytes: int, workers: int = 1) -> list[Unit]:
    """Every non-empty item cut into about ``workers`` ranges of at least ``slice_bytes``
    (objects up to ``slice_bytes`` stay whole), largest first."""
    units = []
    for item in items:
        piece = max(1, slice_bytes, -(-item.size // max(1, workers)))
        for start in range(0, item.size, piece):
            units.append(Unit(item, start, min(item.size, start + piece)))
    units.sort(key=lambda u: (-(u.end - u.start), u.item.key, u.start))
    return units


def run_fetch(
    items: Sequence[FetchItem],
    fetch_range: RangeFetcher,
    *,
    workers: int,
    slice_bytes: int,
    progress: Callable[[int], None] | None = None,
    on_item: Callable[[FetchItem], None] | None = None,
    cancel: threading.Event | None = None,
    on_range: Callable[[FetchItem, int, int, int | None], None] | None = None,
) -> int:
    """Fetch ``items`` with ``fetch_range``; returns the number of units (requests) run.

    ``on_range(item, start, end, crc)`` follows each unit: ``crc`` is the CRC32C of exactly
    the bytes written for ``[start, end)``, or None when the backend did not see them."""
    units = plan_units(items, slice_bytes, workers)
    stopped = threading.Event()
    lock = threading.Lock()
    remaining: dict[int, int] = {}
    for unit in units:
        remaining[id(unit.item)] = remaining.get(id(unit.item), 0) + 1
    report = progress or (lambda _n: None)

    def finished(item: FetchItem) -> None:
        if on_item is not None:
            on_item(item)

    def is_stopped() -> bool:
        return stopped.is_set() or (cancel is not None and cancel.is_set())

    def work(unit: Unit) -> None:
        if is_stopped():
            raise Cancelled("fetch cancelled")
        fd = _open_dest(unit.item, presize=not unit.whole)
        sink = RangeSink(fd, unit.start, report, is_stopped)
        try:
            fetch_range(unit, sink)
        finally:
            os.close(fd)
        if on_range is not None:
            on_range(unit.item, unit.start, unit.end, sink.crc)
        with lock:
            remaining[id(unit.item)] -= 1
            done = remaining[id(unit.item)] == 0
        if done:
            finished(unit.item)

    try:
        for item in items:
            if not item.size:
                os.close(_open_dest(item))  # an empty file has no unit
                finished(item)
        first: BaseException | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(units) or 1))) as pool:
            futures = [pool.submit(work, unit) for unit in units]
            for future in as_completed(futures):
                exc = future.exception()
                if exc is not None and (first is None or isinstance(first, Cancelled)):
                    first = exc  # the real failure wins over the cancellations it caused
                    stopped.set()
        if first is not None:
            raise first
        return len(units)
    finally:
        stopped.set()


def _open_dest(item: FetchItem, presize: bool = False) -> int:
    """The destination; a sliced one is created at its full size (any slice may be first)."""
    fd = os.open(item.dest, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if presize and os.fstat(fd).st_size != item.size:
        os.ftruncate(fd, item.size)
    return fd
