"""Atomic writes of state files (invariant 4: write temp, fsync, rename).

Readers of any file written here see either the old content or the new content, never a
mix, even if the writer is killed with SIGKILL or the host loses power after the rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_json", "fsync_dir", "read_json", "write_if_changed"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the parent directory must exist."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def atomic_write_json(path: str | os.PathLike[str], obj: Any, mode: int = 0o644) -> None:
    """Write ``obj`` as stable (sorted, indented) JSON, atomically."""
    atomic_write_bytes(path, _dump(obj), mode)


def write_if_changed(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> bool:
    """Atomically write ``data`` unless the file already holds exactly it.

    Returns True when the file changed. Byte-stable writers use this so that an unchanged
    state neither touches mtime nor wakes watchers.
    """
    try:
        if Path(path).read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data, mode)
    return True


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; raises FileNotFoundError or ValueError (json.JSONDecodeError)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
