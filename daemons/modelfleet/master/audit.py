"""Audit log of every state change and every refusal: who, when, what, result.

``<state_dir>/audit.jsonl`` holds one :class:`~modelfleet.contracts.cluster.AuditEntry` per
line. Each entry is written with one ``write`` on an ``O_APPEND`` descriptor and fsynced
before the API answers, so an answered call is on disk. A write that fails part way (a full
disk) is cut back to the previous end of the file and raises: a partial entry never glues
itself to the next one. At start, a last line without its newline (a write cut by a crash,
never acknowledged) is cut off the same way. An entry is bounded
(:data:`MAX_LINE` bytes: it records a summary of the request, never its body), and reading
the newest entries costs at most ``limit`` x :data:`MAX_LINE` bytes whatever the file size:
longer lines (written by older versions) are skipped without being parsed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path

from ..contracts.cluster import AuditEntry
from ..contracts.schema import ContractError, from_json, to_json
from ..logsetup import kv

__all__ = ["MAX_LINE", "AuditLog"]

log = logging.getLogger(__name__)

MAX_LINE = 4096
_BLOCK = 64 << 10


def _encode(entry: AuditEntry) -> bytes:
    line = (json.dumps(to_json(entry), sort_keys=True, ensure_ascii=True) + "\n").encode()
    if len(line) > MAX_LINE:  # fields are bounded by their producers; this is the backstop
        entry = replace(
            entry, args={}, request=None, error=entry.error[:200], path=entry.path[:200]
        )
        line = (json.dumps(to_json(entry), sort_keys=True, ensure_ascii=True) + "\n").encode()
    return line[:MAX_LINE]


class AuditLog:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "audit.jsonl"
        self._lock = threading.Lock()
        self._last_change: AuditEntry | None = None
        self._last_change_loaded = False
        self._repair()

    def _repair(self) -> None:
        """Cut a last line that lacks its newline (never acknowledged: its write failed)."""
        try:
            with open(self.path, "r+b") as fh:
                end = fh.seek(0, os.SEEK_END)
                if end == 0:
                    return
                fh.seek(max(0, end - MAX_LINE))
                tail = fh.read()
                if tail.endswith(b"\n"):
                    return
                cut = tail.rfind(b"\n")
                keep = end - len(tail) + cut + 1 if cut >= 0 else max(0, end - len(tail))
                fh.truncate(keep)
                os.fsync(fh.fileno())
                log.warning("audit log ended in a partial entry; cut", extra=kv(bytes=end - keep))
        except FileNotFoundError:
            return

    def append(self, entry: AuditEntry) -> None:
        """Write one entry durably; raises OSError (and leaves the file as it was) when the
        entry cannot be written whole."""
        line = _encode(entry)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                size = os.fstat(fd).st_size
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(errno.ENOSPC, "audit entry written only in part")
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)  # shrinking needs no space
                    raise
            finally:
                os.close(fd)
            if entry.model and entry.result == "ok" and entry.method != "GET":
                self._last_change = entry
                self._last_change_loaded = True

    def last_change(self) -> AuditEntry | None:
        """The newest successful change of a model (triage names it); read once from the
        tail, then kept up to date by :meth:`append`."""
        with self._lock:
            if self._last_change_loaded:
                return self._last_change
        found = None
        for entry in reversed(self.tail(200)):
            if entry.model and entry.result == "ok" and entry.method != "GET":
                found = entry
                break
        with self._lock:
            if not self._last_change_loaded:
                self._last_change, self._last_change_loaded = found, True
            return self._last_change

    def tail(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, oldest first; corrupt or oversized lines are skipped.

        Reads at most ``limit`` x MAX_LINE bytes from the end of the file.
        """
        budget = limit * MAX_LINE + MAX_LINE
        try:
            with open(self.path, "rb") as fh:
                end = fh.seek(0, os.SEEK_END)
                start = max(0, end - budget)
                pos, chunks, newlines = end, [], 0
                while pos > start and newlines <= limit:
                    step = min(_BLOCK, pos - start)
                    pos -= step
                    fh.seek(pos)
                    chunk = fh.read(step)
                    chunks.append(chunk)
                    newlines += chunk.count(b"\n")
        except FileNotFoundError:
            return []
        data = b"".join(reversed(chunks))
        lines = data.split(b"\n")
        if pos > 0:
            lines = lines[1:]  # the first line may be the end of a longer one
        out: list[AuditEntry] = []
        for raw in lines:
            if not raw or len(raw) >= MAX_LINE:
                continue
            try:
                out.append(from_json(AuditEntry, json.loads(raw)))
            except (ValueError, ContractError):
                continue
        return out[-limit:]
