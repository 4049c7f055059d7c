"""A model bucket in a plain local directory (demos, single box, tests).

Objects are files under the root; keys are relative paths checked with ``safe_join`` so a
key can never leave the root. The root may be reached through a symlink or a path with
``..``: paths are resolved once per call and keys are always taken relative to the resolved
root, never to the spelling the operator used.

GCS generations are emulated for the writes that need them: a writer holds
``<root>/_modelfleet/.lock`` (flock) while it compares and bumps a counter in
``<root>/_modelfleet/.generations/<key>``, then replaces the file atomically. Objects
written without a counter report their mtime in nanoseconds as generation, which changes
whenever the file is replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from ..atomic import atomic_write_bytes
from ..names import InvalidName, safe_join
from .base import FetchItem, NotFound, ObjectInfo, PreconditionFailed, RequestCounter, StoreError
from .localfetch import fetch_local

__all__ = ["LocalStore", "copy_file"]

_META_DIR = "_modelfleet"
_COPY_CHUNK = 8 << 20


def copy_file(src: Path, dest: Path) -> int:
    """Copy with in-kernel copy_file_range (as ``cp`` does); read/write where unsupported."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        done = 0
        try:
            while done < size:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size - done)
                if n == 0:
                    break
                done += n
        except OSError:
            fin.seek(done)
            fout.seek(done)
            shutil.copyfileobj(fin, fout, _COPY_CHUNK)
    return size


class LocalStore:
    """:class:`~modelfleet.store.RemoteStore` over a directory."""

    def __init__(self, root: str | os.PathLike[str], on_request: RequestCounter | None = None):
        self.root = Path(root)
        if not self.root.is_absolute():
            raise StoreError(f"local store root {root} must be an absolute path")
        self.url = str(self.root)
        self._count = on_request or (lambda _op, _n: None)

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _real_root(self) -> Path:
        """The root with symlinks and ``..`` resolved (what ``safe_join`` returns paths under)."""
        return self.root.resolve()

    def _check_reachable(self) -> None:
        """A missing root is a bucket that cannot be reached (an unmounted disk), never an
        empty bucket: taking it for empty would tell every node to serve nothing."""
        if not self.root.is_dir():
            raise StoreError(f"{self.url} cannot be reached: not a directory")

    def _path(self, key: str) -> Path:
        try:
            return safe_join(self.root, key)
        except InvalidName as exc:
            raise StoreError(f"invalid key {key!r}: {exc}") from None

    def _gen_path(self, key: str) -> Path:
        return self.root / _META_DIR / ".generations" / quote(key, safe="")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        meta = self.root / _META_DIR
        meta.mkdir(parents=True, exist_ok=True)
        with open(meta / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _generation(self, key: str, path: Path) -> int:
        try:
            st = path.stat()
        except FileNotFoundError:
            return 0
        try:
            return int(self._gen_path(key).read_text())
        except (FileNotFoundError, ValueError):
            return st.st_mtime_ns

    def stat(self, key: str) -> ObjectInfo | None:
        self._count("stat", 1)
        path = self._path(key)
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            self._check_reachable()
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key, size, None, self._generation(key, path))

    def read(self, key: str) -> tuple[bytes, int]:
        self._count("read", 1)
        path = self._path(key)
        # Under the writers' lock when a counter exists, so content and generation agree.
        guard = self._locked() if self._gen_path(key).exists() else contextlib.nullcontext()
        with guard:
            try:
                data = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                self._check_reachable()
                raise NotFound(f"{self.url}/{key} does not exist") from None
            return data, self._generation(key, path)

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        self._count("write", 1)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_generation_match is None and not self._gen_path(key).exists():
            # No precondition and no counter to keep in step: a plain atomic replace.
            atomic_write_bytes(path, data)
            return path.stat().st_mtime_ns
        with self._locked():
            current = self._generation(key, path)
            if if_generation_match is not None and current != if_generation_match:
                raise PreconditionFailed(
                    f"{self.url}/{key} is at generation {current}, not {if_generation_match}"
                )
            gen_path = self._gen_path(key)
            gen_path.parent.mkdir(parents=True, exist_ok=True)
            new = max(current, self._counter(gen_path)) + 1
            # Counter first: a crash between the two leaves a higher counter, never a reused one.
            atomic_write_bytes(gen_path, str(new).encode())
            atomic_write_bytes(path, data)
        return new

    @staticmethod
    def _counter(gen_path: Path) -> int:
        try:
            return int(gen_path.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        self._count("list", 1)
        root = self._real_root()
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else root
        if not base.is_dir():
            self._check_reachable()
            return []
        counters = (self.root / _META_DIR / ".generations").is_dir()
        start = base.relative_to(root).as_posix()
        out: list[ObjectInfo] = []
        pending = [("" if start == "." else start + "/", str(base))]
        while pending:  # scandir walk: one stat per file, symlinks neither followed nor listed
            rel, path = pending.pop()
            try:
                entries = list(os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{rel}{entry.name}/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    key = rel + entry.name
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    generation = (
                        self._generation(key, Path(entry.path)) if counters else st.st_mtime_ns
                    )
                    out.append(ObjectInfo(key, st.st_size, None, generation))
        return sorted(out, key=lambda o: o.key)

    def list_dirs(self, prefix: str = "") -> list[str]:
        self._count("list", 1)
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        try:
            return sorted(
                e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith(".")
            )
        except (FileNotFoundError, NotADirectoryError):
            self._check_reachable()
            return []

    def delete(self, key: str) -> None:
        self._count("delete", 1)
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Prune directories left empty, as GCS has no directories to leave behind.
        root = self._real_root()
        parent = path.parent
        while parent != root and root in parent.parents and parent.is_dir():
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def upload_files(
        self,
        pairs: Sequence[tuple[Path, str]],
        *,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        def one(pair: tuple[Path, str]) -> None:
            src, key = pair
            dest = self._path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.upload")
            size = copy_file(src, tmp)
            os.replace(tmp, dest)
            if progress:
                progress(size)

        self._count("upload", len(pairs))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(one, pairs))

    def fetch(
        self,
        items: Sequence[FetchItem],
        *,
        workers: int = 8,
        slice_bytes: int = 32 << 20,
        progress: Callable[[int], None] | None = None,
        on_item: Callable[[FetchItem], None] | None = None,
        cancel: threading.Event | None = None,
        on_range: Callable[[FetchItem, int, int, int | None], None] | None = None,
    ) -> None:
        self._count("download", len(items))
        fetch_local(
            self.root,
            self.url,
            items,
            workers=workers,
            slice_bytes=slice_bytes,
            progress=progress,
            on_item=on_item,
            cancel=cancel,
            on_range=on_range,
        )
