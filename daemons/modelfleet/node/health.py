"""Health heartbeats between a daemon's threads and its healthcheck.

The RUNBOOK's containers saved "healthcheck information between threads" under /app. Here
every worker loop of a daemon calls :meth:`HealthFile.beat` after each pass; the file
``<state_dir>/health/<service>.json`` is rewritten atomically. ``modelfleet healthcheck
SERVICE`` (systemd, monitoring) reads it: the daemon is healthy when every loop beat
recently and none reported itself failed. A loop that hangs stops beating, so a stuck daemon
fails its healthcheck and gets restarted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, read_json

__all__ = ["HealthFile", "HealthVerdict", "check_health"]


@dataclass(frozen=True)
class HealthVerdict:
    healthy: bool
    reason: str
    detail: dict[str, Any]


class HealthFile:
    """Per-service heartbeat file; thread-safe, one entry per loop."""

    def __init__(self, state_dir: Path, service: str, clock: Any = time.time) -> None:
        self.path = Path(state_dir) / "health" / f"{service}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.service = service
        self._clock = clock
        self._lock = threading.Lock()
        self._loops: dict[str, dict[str, Any]] = {}

    def beat(self, loop: str, *, ok: bool = True, detail: str = "", max_age: float = 60.0) -> None:
        """Record that ``loop`` completed a pass; ``max_age`` is how long the beat stays fresh."""
        with self._lock:
            self._loops[loop] = {
                "ts": self._clock(),
                "ok": bool(ok),
                "detail": detail,
                "max_age": float(max_age),
            }
            atomic_write_json(self.path, {"service": self.service, "loops": self._loops})

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._loops.items()}


def check_health(state_dir: Path, service: str, now: float | None = None) -> HealthVerdict:
    """Judge a service from its heartbeat file; never raises."""
    path = Path(state_dir) / "health" / f"{service}.json"
    now = time.time() if now is None else now
    try:
        data = read_json(path)
        loops = data["loops"]
        if not isinstance(loops, dict) or not loops:
            return HealthVerdict(False, f"{path} lists no loops yet", {})
    except FileNotFoundError:
        return HealthVerdict(False, f"no heartbeat file {path}: daemon not started", {})
    except (ValueError, KeyError, TypeError) as exc:
        return HealthVerdict(False, f"unreadable heartbeat file {path}: {exc}", {})
    problems = []
    for name, entry in sorted(loops.items()):
        age = now - float(entry.get("ts", 0))
        if age > float(entry.get("max_age", 60)):
            problems.append(f"loop {name} silent for {age:.0f}s")
        elif not entry.get("ok", False):
            problems.append(f"loop {name} failing: {entry.get('detail', '')}")
    if problems:
        return HealthVerdict(False, "; ".join(problems), loops)
    return HealthVerdict(True, "ok", loops)
