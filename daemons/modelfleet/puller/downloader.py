"""Download one version into staging, verify every byte against its manifest, install it.

Nothing here is visible to the config manager until the final rename; any failure (bad
manifest, missing object, checksum mismatch, full disk, a kill) or a cancellation leaves at
most a staging directory, which is removed here or at the next start. A cancelled pull
raises :class:`~modelfleet.store.base.Cancelled`; ``guard`` is entered around the rename
only, so the caller can make "cancelled" and "installed" exclusive.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

from ..contracts.node import PullState
from ..localdir import LocalModelDir
from ..logsetup import kv
from ..names import InvalidName, safe_join
from ..store.base import FetchItem, ObjectInfo, RemoteStore, StoreError
from ..store.manifest import (
    Manifest,
    ManifestFile,
    crc32c_b64,
    crc32c_combine,
    crc32c_of_file,
    crc32c_of_range,
)

__all__ = ["PullError", "pull_version"]

log = logging.getLogger(__name__)


class PullError(RuntimeError):
    """A version that could not be installed; ``reason`` labels the failure metric."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_disk(local: LocalModelDir, manifest: Manifest, reserve_bytes: int) -> None:
    free = local.free_bytes()
    need = manifest.total_bytes
    if free - reserve_bytes < need:
        raise PullError(
            "disk",
            f"not enough disk for {manifest.model}/{manifest.version}: needs {need} bytes, "
            f"{free} free minus a reserve of {reserve_bytes}",
        )


def _check_listing(manifest: Manifest, listing: dict[str, ObjectInfo]) -> None:
    """Catch a missing or obviously different object before downloading anything."""
    for f in manifest.files:
        info = listing.get(f.path)
        if info is None:
            raise PullError("missing", f"{manifest.model}/{manifest.version}/{f.path} is missing")
        if info.size != f.size:
            raise PullError(
                "checksum",
                f"{manifest.model}/{manifest.version}/{f.path}: remote size {info.size}, "
                f"manifest says {f.size}",
            )
        if info.crc32c is not None and info.crc32c != f.crc32c:
            raise PullError(
                "checksum",
                f"{manifest.model}/{manifest.version}/{f.path}: remote crc32c {info.crc32c}, "
                f"manifest says {f.crc32c}",
            )


def _verify(path: Path, f: ManifestFile, fsync: bool) -> str | None:
    size, crc = crc32c_of_file(path)
    if size != f.size or crc != f.crc32c:
        return f"{f.path}: got {size} bytes crc32c {crc}, manifest says {f.size} bytes {f.crc32c}"
    if fsync:
        _fsync(path)
    return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Verifier:
    """Checks every file against the manifest as it lands, slice by slice.

    A slice's CRC32C normally comes with it: the fetch engine computed it from the very bytes
    it wrote (one pass over the data, no read back). A slice the backend did not see (copied
    in the kernel) is read back right after it is written (still in the page cache), in the
    worker thread that wrote it. When the last slice of a file lands, the slices' CRC32Cs are
    joined (:func:`crc32c_combine`) and compared with the manifest — no second pass over a
    large file.
    """

    def __init__(self, items: list[FetchItem], files: tuple[ManifestFile, ...], fsync: bool):
        self.expected = {item.dest: f for item, f in zip(items, files, strict=True)}
        self.fsync = fsync
        self.verdicts: dict[Path, str | None] = {}
        self._ranges: dict[Path, dict[int, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def on_range(self, item: FetchItem, start: int, end: int, crc: int | None) -> None:
        if crc is None:
            fd = os.open(item.dest, os.O_RDONLY | os.O_CLOEXEC)
            try:
                crc = crc32c_of_range(fd, start, end)
            finally:
                os.close(fd)
        with self._lock:
            self._ranges.setdefault(item.dest, {})[start] = (end, crc)

    def on_item(self, item: FetchItem) -> None:
        f = self.expected[item.dest]
        with self._lock:
            ranges = self._ranges.pop(item.dest, {})
        crc, offset = 0, 0
        for start in sorted(ranges):
            end, part = ranges[start]
            if start != offset:
                self.verdicts[item.dest] = f"{f.path}: bytes {offset}-{start} never arrived"
                return
            # The first slice's CRC is the running one (combining costs ~0.1 ms per file).
            crc = part if start == 0 else crc32c_combine(crc, part, end - start)
            offset = end
        got = crc32c_b64(crc)
        if offset != f.size or got != f.crc32c:
            self.verdicts[item.dest] = (
                f"{f.path}: got {offset} bytes crc32c {got}, "
                f"manifest says {f.size} bytes {f.crc32c}"
            )
            return
        if self.fsync:
            _fsync(item.dest)
        self.verdicts[item.dest] = None

    def verify_whole(self, item: FetchItem) -> None:
        """For items the store did not report: read the whole file."""
        self.verdicts[item.dest] = _verify(item.dest, self.expected[item.dest], self.fsync)


def pull_version(
    store: RemoteStore,
    local: LocalModelDir,
    manifest: Manifest,
    listing: dict[str, ObjectInfo] | None,
    *,
    workers: int = 8,
    slice_bytes: int = 32 << 20,
    reserve_bytes: int = 0,
    fsync: bool = True,
    progress: Callable[[int], None] | None = None,
    on_state: Callable[[PullState], None] | None = None,
    cancel: threading.Event | None = None,
    guard: AbstractContextManager[object] | None = None,
) -> Path:
    """Fetch, verify and atomically install ``manifest``'s version; returns its directory.

    ``listing`` maps file paths (relative to the version) to remote metadata; when given it
    lets a bad version fail before any byte is downloaded.
    """
    model, version = manifest.model, manifest.version
    check_disk(local, manifest, reserve_bytes)
    if listing is not None:
        _check_listing(manifest, listing)
    started = time.monotonic()
    staging = local.new_staging(model, version)
    try:
        items = []
        made: set[Path] = set()  # one mkdir per directory, not per file (many-shard models)
        for f in manifest.files:
            try:
                dest = safe_join(staging, f.path, resolve=False)  # fresh, ours
            except InvalidName as exc:
                raise PullError("manifest", f"{model}/{version}: {exc}") from None
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            gen = listing[f.path].generation if listing and f.path in listing else 0
            items.append(FetchItem(f"{model}/{version}/{f.path}", dest, f.size, gen))
        if on_state:
            on_state("downloading")
        verifier = _Verifier(items, manifest.files, fsync)
        verdicts = verifier.verdicts
        try:
            store.fetch(
                items,
                workers=workers,
                slice_bytes=slice_bytes,
                progress=progress,
                on_item=verifier.on_item,
                cancel=cancel,
                on_range=verifier.on_range,
            )
        except StoreError as exc:
            raise PullError("remote", f"{model}/{version}: {exc}") from None
        if on_state:
            on_state("verifying")
        rest = [item for item in items if item.dest not in verdicts]
        if rest:
            with ThreadPoolExecutor(
                max_workers=max(1, min(workers, os.cpu_count() or 1) * 2)
            ) as pool:
                list(pool.map(verifier.verify_whole, rest))
        bad = [verdicts[item.dest] for item in items if verdicts[item.dest]]
        if bad:
            raise PullError(
                "checksum",
                f"{model}/{version}: {bad[0]}"
                + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
            )
        if on_state:
            on_state("installing")
        try:
            target = local.install(
                staging, manifest, fsync=fsync, guard=guard or contextlib.nullcontext()
            )
        except OSError as exc:
            raise PullError("conflict", f"{model}/{version}: cannot install: {exc}") from None
    except BaseException:
        local.discard_staging(staging)
        raise
    log.info(
        "version installed",
        extra=kv(
            model=model,
            version=version,
            bytes=manifest.total_bytes,
            files=len(manifest.files),
            seconds=round(time.monotonic() - started, 3),
        ),
    )
    return target
