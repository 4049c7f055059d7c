"""The master's own state files (registry, maintenance flags): read strictly, written durably.

Why strictly: a state file that cannot be read at start used to be replaced by an empty one,
silently — the maintenance flags vanished and the next heartbeat overwrote the registry of
every other node. Now a file that exists but is not what the master wrote stops the master
with one line naming the file (:class:`StateFileError`); nothing is reset behind the
operator's back. Moving the file aside is the operator's decision (RUNBOOK: the registry
refills from heartbeats within one interval; maintenance changes are in the audit log).

Why durably: every change an API call acknowledges is on disk first (write temp, fsync,
rename, fsync the directory — :func:`modelfleet.atomic.atomic_write_json`). A write that
fails raises :class:`StateWriteError`; callers keep the old state in memory, so nothing is
applied and the caller answers a clear error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..atomic import atomic_write_json

__all__ = ["StateFileError", "StateWriteError", "read_state", "write_state"]

T = TypeVar("T")


class StateFileError(RuntimeError):
    """A state file that exists but cannot be used; the message is one line naming it."""


class StateWriteError(OSError):
    """A state change could not be made durable (disk full, read-only, I/O error)."""


def read_state(path: Path, what: str, parse: Callable[[Any], T]) -> T | None:
    """``parse(document)`` of the JSON file at ``path``; None when the file does not exist.

    Raises :class:`StateFileError` when the file is unreadable, not JSON, or ``parse``
    refuses it (``ValueError``, ``TypeError``, ``KeyError``, ``AttributeError``).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        return parse(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StateFileError(
            f"{what} {path} is corrupt ({detail}); the master does not start on a silent "
            f"reset: move it aside to start without it (RUNBOOK: corrupt state file)"
        ) from None


def write_state(path: Path, document: Any) -> None:
    """Write ``document`` atomically and durably; :class:`StateWriteError` on failure."""
    try:
        atomic_write_json(path, document, mode=0o640)
    except OSError as exc:
        raise StateWriteError(
            exc.errno, f"{path.name} not written ({exc.strerror or exc}): nothing changed"
        ) from None
