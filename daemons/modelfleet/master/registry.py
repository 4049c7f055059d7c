"""The registry of node daemons and the maintenance flags, persisted in the state dir.

One gunicorn worker owns the registry in memory (the master runs one worker with threads, so
every request sees the same registry); it is written atomically to
``<state_dir>/registry.json`` and ``<state_dir>/maintenance.json``. Registration of a new node
and every maintenance change are written at once; heartbeats only move timestamps and are
flushed at most every ``flush_interval`` seconds, and at shutdown. After a restart the
registry is read back, and nodes refresh it with their next heartbeat anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, read_json
from ..contracts.node import NODE_SERVICES, Registration
from ..contracts.schema import ContractError, from_json, to_json
from ..logsetup import kv
from ..names import InvalidName

__all__ = ["SERVICES", "NodeEntry", "Registry"]

log = logging.getLogger(__name__)

SERVICES = NODE_SERVICES


@dataclass
class NodeEntry:
    hostname: str
    service: str
    port: int
    zone: str
    version: str
    first_seen: float
    last_heartbeat: float
    registrations: int = 1
    returns_after_stale: int = 0
    return_times: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.hostname}/{self.service}"

    @property
    def url(self) -> str:
        return f"http://{self.hostname}:{self.port}"


def validate_registration(body: object) -> dict[str, Any]:
    """Check a registration body (:class:`~modelfleet.contracts.node.Registration`); raises
    :class:`InvalidName` (a ValueError) naming the field."""
    try:
        valid = from_json(Registration, body, "registration")
    except ContractError as exc:
        raise InvalidName(str(exc)) from None
    return dict(to_json(valid))


class Registry:
    """Thread-safe registry + maintenance flags; every public method holds the lock briefly."""

    def __init__(
        self,
        state_dir: Path,
        *,
        stale_after: float = 30.0,
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(state_dir) / "registry.json"
        self.maintenance_path = Path(state_dir) / "maintenance.json"
        self.stale_after = stale_after
        self.flush_interval = flush_interval
        self.clock = clock
        self._lock = threading.RLock()
        self._nodes: dict[str, NodeEntry] = {}
        self._maintenance: dict[str, dict[str, dict[str, Any]]] = {"zones": {}, "nodes": {}}
        self._dirty = False
        self._last_flush = 0.0
        self._flusher: threading.Timer | None = None
        self._load()

    # -- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = read_json(self.path)
            for raw in data.get("nodes", []):
                entry = NodeEntry(**raw)
                self._nodes[entry.key] = entry
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error("registry file unreadable, starting empty", extra=kv(error=str(exc)))
        try:
            data = read_json(self.maintenance_path)
            self._maintenance = {
                "zones": dict(data.get("zones", {})),
                "nodes": dict(data.get("nodes", {})),
            }
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, AttributeError) as exc:
            log.error("maintenance file unreadable, starting empty", extra=kv(error=str(exc)))

    def flush(self) -> None:
        """Write the registry now if anything changed (atomic; invariant 4)."""
        with self._lock:
            if not self._dirty:
                return
            doc = {"schema": 1, "nodes": [asdict(n) for n in self._nodes.values()]}
            self._dirty = False
            self._last_flush = self.clock()
            atomic_write_json(self.path, doc)

    def _mark_dirty(self, urgent: bool) -> None:
        self._dirty = True
        now = self.clock()
        if urgent and now - self._last_flush >= self.flush_interval:
            self.flush()
        elif self._flusher is None or not self._flusher.is_alive():
            delay = self.flush_interval if urgent else max(self.flush_interval, 30.0)
            self._flusher = threading.Timer(delay, self.flush)
            self._flusher.daemon = True
            self._flusher.start()

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        self.flush()

    # -- nodes -------------------------------------------------------------------------
    def register(self, body: dict[str, Any]) -> NodeEntry:
        """Add or refresh a node from a validated registration body."""
        now = self.clock()
        key = f"{body['hostname']}/{body['service']}"
        with self._lock:
            entry = self._nodes.get(key)
            if entry is None:
                entry = NodeEntry(first_seen=now, last_heartbeat=now, **body)
                self._nodes[key] = entry
                log.info("node registered", extra=kv(node=key, zone=entry.zone))
                self._mark_dirty(urgent=True)
                return entry
            changed = (entry.port, entry.zone, entry.version) != (
                body["port"],
                body["zone"],
                body["version"],
            )
            if now - entry.last_heartbeat > self.stale_after:
                entry.returns_after_stale += 1
                entry.return_times = [*entry.return_times[-9:], now]
                changed = True
            entry.port, entry.zone, entry.version = body["port"], body["zone"], body["version"]
            entry.last_heartbeat = now
            entry.registrations += 1
            self._mark_dirty(urgent=changed)
            return entry

    def forget(self, hostname: str) -> int:
        with self._lock:
            keys = [k for k, n in self._nodes.items() if n.hostname == hostname]
            for k in keys:
                del self._nodes[k]
            if keys:
                self._mark_dirty(urgent=True)
            return len(keys)

    def is_stale(self, entry: NodeEntry, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return now - entry.last_heartbeat > self.stale_after

    def nodes(self) -> list[NodeEntry]:
        with self._lock:
            return sorted(self._nodes.values(), key=lambda n: (n.zone, n.hostname, n.service))

    def hosts(self) -> dict[str, list[NodeEntry]]:
        out: dict[str, list[NodeEntry]] = {}
        for n in self.nodes():
            out.setdefault(n.hostname, []).append(n)
        return out

    def describe(self, entry: NodeEntry, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        return {
            "hostname": entry.hostname,
            "service": entry.service,
            "port": entry.port,
            "zone": entry.zone,
            "version": entry.version,
            "url": entry.url,
            "first_seen": entry.first_seen,
            "last_heartbeat": entry.last_heartbeat,
            "heartbeat_age": round(now - entry.last_heartbeat, 3),
            "stale": self.is_stale(entry, now),
            "maintenance": self.in_maintenance(entry.hostname, entry.zone),
            "registrations": entry.registrations,
            "returns_after_stale": entry.returns_after_stale,
        }

    # -- maintenance -------------------------------------------------------------------
    def in_maintenance(self, hostname: str, zone: str) -> bool:
        with self._lock:
            return hostname in self._maintenance["nodes"] or zone in self._maintenance["zones"]

    def maintenance(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._lock:
            return {k: {n: dict(v) for n, v in d.items()} for k, d in self._maintenance.items()}

    def set_maintenance(self, kind: str, name: str, enabled: bool, *, by: str, reason: str) -> bool:
        """Set or clear the flag of a zone or node; returns True when it changed."""
        assert kind in ("zones", "nodes")
        with self._lock:
            table = self._maintenance[kind]
            if enabled:
                changed = name not in table
                table[name] = {
                    "since": table.get(name, {}).get("since", self.clock()),
                    "by": by,
                    "reason": reason,
                }
            else:
                changed = table.pop(name, None) is not None
            atomic_write_json(self.maintenance_path, self._maintenance)
            return changed

    def zones(self) -> list[str]:
        with self._lock:
            return sorted({n.zone for n in self._nodes.values()})
