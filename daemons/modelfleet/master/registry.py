"""The registry of node daemons and the maintenance flags, persisted in the state dir.

One gunicorn worker owns the registry in memory (the master runs one worker with threads, so
every request sees the same registry); it is written atomically to
``<state_dir>/registry.json`` and ``<state_dir>/maintenance.json``
(:mod:`.statefile`). Every change a call acknowledges is on disk before the answer: a new
node, a node whose address, port, zone or version changed, a forgotten node, a maintenance
flag. When the write fails nothing changes in memory either and the caller gets
:class:`~.statefile.StateWriteError`. Heartbeats that only move timestamps are flushed at
most every ``flush_interval`` seconds and at shutdown (losing one costs nothing: the next
heartbeat comes within an interval). A state file that exists but cannot be read stops the
master at start (:class:`~.statefile.StateFileError`), never an empty registry.

An entry is bound to the node's authenticated identity (:mod:`.identity`): its hostname is
the one in the node's token, ``address`` the address it registered from (the only one the
master calls), ``key_id`` the node key its token was proved with.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..contracts.node import NODE_SERVICES, Registration
from ..contracts.schema import ContractError, from_json, to_json
from ..logsetup import kv
from ..names import InvalidName, validate_hostname, validate_zone
from .statefile import StateWriteError, read_state, write_state

__all__ = ["SERVICES", "NodeEntry", "Registry", "RegistryFull"]

log = logging.getLogger(__name__)

SERVICES = NODE_SERVICES
DEFAULT_MAX_NODES = 5000


class RegistryFull(Exception):
    """A new daemon would exceed the registry's cap (``MODELFLEET_MAX_NODES``)."""


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
    address: str = ""  # the verified address the master calls ("" = registered before 0.x)
    key_id: str = "current"  # node key the node's token was proved with

    @property
    def key(self) -> str:
        return f"{self.hostname}/{self.service}"

    @property
    def durable(self) -> tuple[Any, ...]:
        """What a registration acknowledges: written at once when it changes."""
        return (self.port, self.zone, self.version, self.address, self.key_id)


_ENTRY_FIELDS = {f.name for f in fields(NodeEntry)}


def _parse_entry(raw: Any) -> NodeEntry:
    if not isinstance(raw, dict) or not set(raw) <= _ENTRY_FIELDS:
        raise ValueError(f"not a registry entry: {str(raw)[:80]}")
    entry = NodeEntry(**raw)
    validate_hostname(entry.hostname)
    validate_zone(entry.zone)
    if entry.service not in SERVICES or not isinstance(entry.port, int):
        raise ValueError(f"bad entry {entry.key}")
    return entry


def _parse_registry(doc: Any) -> dict[str, NodeEntry]:
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise ValueError("not a schema 1 registry document")
    entries = [_parse_entry(raw) for raw in doc["nodes"]]
    return {e.key: e for e in entries}


def _parse_maintenance(doc: Any) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in ("zones", "nodes"):
        table = doc.get(kind, {})
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise ValueError(f"{kind} is not an object of flags")
        out[kind] = {str(k): dict(v) for k, v in table.items()}
    return out


def check_state_files(state_dir: Path) -> None:
    """Read both state files strictly; raises StateFileError (``master run`` calls it before
    gunicorn starts, so a corrupt file is one line on stderr)."""
    read_state(Path(state_dir) / "registry.json", "registry file", _parse_registry)
    read_state(Path(state_dir) / "maintenance.json", "maintenance file", _parse_maintenance)


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
        max_nodes: int = DEFAULT_MAX_NODES,
        clock: Callable[[], float] = time.time,
        scheme: str = "http",
    ) -> None:
        self.path = Path(state_dir) / "registry.json"
        self.scheme = scheme  # how the master calls nodes: https when it holds a fleet CA
        self.maintenance_path = Path(state_dir) / "maintenance.json"
        self.stale_after = stale_after
        self.flush_interval = flush_interval
        self.max_nodes = max_nodes
        self.clock = clock
        self._lock = threading.RLock()
        self._dirty = False
        self._flusher: threading.Timer | None = None
        # Raises StateFileError: a corrupt file is never replaced by an empty registry.
        self._nodes: dict[str, NodeEntry] = (
            read_state(self.path, "registry file", _parse_registry) or {}
        )
        self._maintenance: dict[str, dict[str, dict[str, Any]]] = read_state(
            self.maintenance_path, "maintenance file", _parse_maintenance
        ) or {"zones": {}, "nodes": {}}

    # -- persistence -------------------------------------------------------------------
    def _write_nodes(self, nodes: dict[str, NodeEntry]) -> None:
        doc = {"schema": 1, "nodes": [asdict(n) for n in nodes.values()]}
        write_state(self.path, doc)

    def flush(self) -> None:
        """Write heartbeat timestamps now if any moved (a failure is logged and retried)."""
        with self._lock:
            if not self._dirty:
                return
            try:
                self._write_nodes(self._nodes)
                self._dirty = False
            except StateWriteError as exc:
                log.error("heartbeats not flushed", extra=kv(error=str(exc)))
                self._schedule()

    def _schedule(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Timer(self.flush_interval, self.flush)
            self._flusher.daemon = True
            self._flusher.start()

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        self.flush()

    # -- nodes -------------------------------------------------------------------------
    def register(
        self, body: dict[str, Any], *, address: str = "", key_id: str = "current"
    ) -> NodeEntry:
        """Add or refresh a node from a validated registration body; a change of what the
        registry holds is durable before this returns (StateWriteError: nothing changed).
        Raises RegistryFull for a new daemon beyond ``max_nodes``."""
        now = self.clock()
        key = f"{body['hostname']}/{body['service']}"
        with self._lock:
            old = self._nodes.get(key)
            if old is None:
                if len(self._nodes) >= self.max_nodes:
                    raise RegistryFull(
                        f"the registry holds {len(self._nodes)} daemons, its cap "
                        "(MODELFLEET_MAX_NODES)"
                    )
                entry = NodeEntry(
                    first_seen=now, last_heartbeat=now, address=address, key_id=key_id, **body
                )
            else:
                entry = replace(
                    old,
                    port=body["port"],
                    zone=body["zone"],
                    version=body["version"],
                    address=address,
                    key_id=key_id,
                    last_heartbeat=now,
                    registrations=old.registrations + 1,
                    return_times=list(old.return_times),
                )
                if now - old.last_heartbeat > self.stale_after:
                    entry.returns_after_stale += 1
                    entry.return_times = [*entry.return_times[-9:], now]
            durable = old is None or old.durable != entry.durable
            returned = old is not None and entry.returns_after_stale != old.returns_after_stale
            if durable or returned:
                nodes = {**self._nodes, key: entry}
                self._write_nodes(nodes)
                self._nodes, self._dirty = nodes, False
                if old is None:
                    log.info("node registered", extra=kv(node=key, zone=entry.zone))
                elif durable:
                    log.info("node registration changed", extra=kv(node=key, zone=entry.zone))
            else:
                self._nodes[key] = entry
                self._dirty = True
                self._schedule()
            return entry

    def forget(self, hostname: str) -> int:
        """Remove every daemon of ``hostname``, durably (StateWriteError: nothing changed)."""
        with self._lock:
            nodes = {k: n for k, n in self._nodes.items() if n.hostname != hostname}
            removed = len(self._nodes) - len(nodes)
            if removed:
                self._write_nodes(nodes)
                self._nodes, self._dirty = nodes, False
            return removed

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
            "url": f"{self.scheme}://{entry.hostname}:{entry.port}",
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
        """Set or clear the flag of a zone or node; returns True when it changed. The new
        flags are on disk before they apply (StateWriteError: nothing changed)."""
        assert kind in ("zones", "nodes")
        with self._lock:
            flags = copy.deepcopy(self._maintenance)
            table = flags[kind]
            if enabled:
                changed = name not in table
                table[name] = {
                    "since": table.get(name, {}).get("since", self.clock()),
                    "by": by,
                    "reason": reason,
                }
            else:
                changed = table.pop(name, None) is not None
            if flags != self._maintenance:
                write_state(self.maintenance_path, flags)
                self._maintenance = flags
            return changed

    def zones(self) -> list[str]:
        with self._lock:
            return sorted({n.zone for n in self._nodes.values()})
