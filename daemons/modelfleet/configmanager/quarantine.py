"""Versions that failed to load, remembered in the state dir so they are never retried.

Invariant 3: a version that fails to load is quarantined, reported, and the node falls back
to its newest good version — it is not put back into TF Serving's config on every pass
(nor after a restart of the config manager, hence the file). Versions are immutable, so a
fix is a new version; an operator may delete the file (or an entry) to retry one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, read_json

__all__ = ["Quarantine"]


class Quarantine:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            data = read_json(self.path)
            if isinstance(data, dict) and isinstance(data.get("models"), dict):
                self._entries = {
                    str(m): {str(v): dict(e) for v, e in vs.items() if isinstance(e, dict)}
                    for m, vs in data["models"].items()
                    if isinstance(vs, dict)
                }
        except (FileNotFoundError, ValueError, OSError):
            pass

    def add(self, model: str, version: int, error: str) -> bool:
        """Quarantine a version; returns False if it already was."""
        with self._lock:
            versions = self._entries.setdefault(model, {})
            if str(version) in versions:
                return False
            versions[str(version)] = {
                "error": error[:2000],
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_json(self.path, {"schema": 1, "models": self._entries})
            return True

    def contains(self, model: str, version: int) -> bool:
        with self._lock:
            return str(version) in self._entries.get(model, {})

    def versions(self, model: str) -> set[int]:
        with self._lock:
            return {int(v) for v in self._entries.get(model, {})}

    def entries(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"version": int(v), "error": e.get("error", ""), "at": e.get("at", "")}
                for v, e in sorted(self._entries.get(model, {}).items(), key=lambda x: int(x[0]))
            ]

    def models(self) -> list[str]:
        with self._lock:
            return sorted(m for m, vs in self._entries.items() if vs)

    def count(self) -> int:
        with self._lock:
            return sum(len(vs) for vs in self._entries.values())
