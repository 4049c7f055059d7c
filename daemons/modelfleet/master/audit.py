"""Audit log of every mutating call: who, when, what, result — appended durably.

``<state_dir>/audit.jsonl`` holds one JSON object per line. Each entry is written with one
``write`` on an ``O_APPEND`` descriptor and fsynced before the API answers, so an answered
call is on disk. Reading returns the newest entries (tail of the file).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "audit.jsonl"
        self._lock = threading.Lock()

    def append(self, **entry: Any) -> dict[str, Any]:
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return record

    def tail(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, oldest first; corrupt lines are skipped."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                block = 64 << 10
                data = b""
                while size > 0 and data.count(b"\n") <= limit:
                    step = min(block, size)
                    size -= step
                    fh.seek(size)
                    data = fh.read(step) + data
        except FileNotFoundError:
            return []
        out = []
        for raw in data.splitlines()[-limit:]:
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out
