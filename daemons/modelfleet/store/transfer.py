"""The fetch engine both backends share: many files at once, large files in slices.

A version is a handful of files, often one or two large ``variables`` shards. Fetching them
one after another waits one round trip per file and leaves a large file at the speed of one
stream (GCS serves one connection at a bounded rate). Here every file becomes one or more
*units* — byte ranges of at most ``slice_bytes`` — that a pool of ``workers`` threads runs
largest first, each unit writing at its own offset of the destination (created at full size
up front). The backend only says how to copy one range (:data:`RangeFetcher`).

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

    ``write`` is the file-like side (for HTTP clients that stream into a file object);
    ``advance`` reports bytes the backend wrote itself through ``fileno()`` (copy_file_range).
    Both check for cancellation.
    """

    def __init__(
        self, fd: int, offset: int, progress: Callable[[int], None], stopped: Callable[[], bool]
    ) -> None:
        self._fd = fd
        self.offset = offset
        self._progress = progress
        self._stopped = stopped

    def check(self) -> None:
        if self._stopped():
            raise Cancelled("fetch cancelled")

    def write(self, data: bytes) -> int:
        self.check()
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self.offset)
            self.offset += n
            view = view[n:]
        self._progress(len(data))
        return len(data)

    def advance(self, n: int) -> None:
        self.offset += n
        self._progress(n)
        self.check()

    def fileno(self) -> int:
        return self._fd

    def flush(self) -> None:
        pass


RangeFetcher = Callable[[Unit, RangeSink], None]
"""Copy ``unit``'s bytes into ``sink`` (starting at ``sink.offset``); raise on failure."""


def plan_units(items: Sequence[FetchItem], slice_bytes: int) -> list[Unit]:
    """Every non-empty item cut into ranges of at most ``slice_bytes``, largest first."""
    units = []
    for item in items:
        for start in range(0, item.size, max(1, slice_bytes)):
            units.append(Unit(item, start, min(item.size, start + slice_bytes)))
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
) -> int:
    """Fetch ``items`` with ``fetch_range``; returns the number of units (requests) run."""
    units = plan_units(items, slice_bytes)
    stopped = threading.Event()
    lock = threading.Lock()
    remaining: dict[int, int] = {}
    for unit in units:
        remaining[id(unit.item)] = remaining.get(id(unit.item), 0) + 1
    fds: dict[int, int] = {}
    report = progress or (lambda _n: None)

    def finished(item: FetchItem) -> None:
        if on_item is not None:
            on_item(item)

    def is_stopped() -> bool:
        return stopped.is_set() or (cancel is not None and cancel.is_set())

    def work(unit: Unit) -> None:
        if is_stopped():
            raise Cancelled("fetch cancelled")
        sink = RangeSink(fds[id(unit.item)], unit.start, report, is_stopped)
        fetch_range(unit, sink)
        with lock:
            remaining[id(unit.item)] -= 1
            done = remaining[id(unit.item)] == 0
        if done:
            finished(unit.item)

    try:
        for item in items:
            fd = os.open(item.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            fds[id(item)] = fd
            if item.size:
                os.ftruncate(fd, item.size)
        for item in items:
            if not item.size:
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
        for fd in fds.values():
            os.close(fd)
