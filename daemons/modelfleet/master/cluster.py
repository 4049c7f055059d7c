"""Cluster operations over the registry: live status, sync/reload fan-out, serving check.

:class:`Cluster` is the one object the views talk to. It asks the node daemons through
:class:`~.fanout.FanOut` (bounded, per-node deadline, partial results) while the desired
state is read from the bucket in parallel (:class:`~.desired_cache.DesiredCache`, same
deadline), and folds the answers into a typed
:class:`~modelfleet.contracts.cluster.ClusterStatus` (:mod:`.hostview`) with the triage
verdict (:mod:`.triage`). A status costs about one deadline however sick the bucket or the
nodes are.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Literal

from ..contracts.cluster import (
    CallOutcome,
    ClusterStatus,
    Maintenance,
    Summary,
)
from ..contracts.master_api import OperationResult
from ..contracts.schema import from_json
from ..desired import DesiredState, served_versions
from .audit import AuditLog
from .desired_cache import DesiredCache
from .fanout import Call, CallResult, FanOut
from .hostview import RESTART_WINDOW, drift_problems, drifting_hosts, fold_host, models_view
from .identity import NodeIdentity
from .registry import NodeEntry, Registry
from .remote import RemoteState
from .triage import triage

__all__ = ["SERVING_STATES", "Cluster", "outcome"]

SERVING_STATES = ("AVAILABLE", "LOADING", "UNLOADING")
_STATUS_PATH = {"remote_model_puller": "/api/v1/status", "config_manager": "/api/v1/models"}
_OPS = {
    "sync": ("remote_model_puller", "/api/v1/sync"),
    "reload": ("config_manager", "/api/v1/reload"),
}


def outcome(result: CallResult, with_body: bool = False) -> CallOutcome:
    return CallOutcome(
        ok=result.ok,
        status=result.status,
        error=result.error,
        elapsed_ms=round(result.elapsed * 1000, 1),
        body=result.body if with_body else None,
    )


class Cluster:
    def __init__(
        self,
        registry: Registry,
        fanout: FanOut,
        identity: NodeIdentity,
        remote: RemoteState,
        audit: AuditLog,
        *,
        drain_min_share: float = 0.75,
        cache_seconds: float = 2.0,
    ) -> None:
        self.registry = registry
        self.fanout = fanout
        self.identity = identity
        self.remote = remote
        self.audit = audit
        self.drain_min_share = drain_min_share
        self.cache_seconds = cache_seconds
        self.desired = DesiredCache(remote.read_remote)
        self._lock = threading.Lock()
        self._cache: dict[str | None, tuple[float, ClusterStatus]] = {}
        self._tf_seen: dict[str, bool] = {}
        self._tf_downs: dict[str, list[float]] = {}

    # -- targets -------------------------------------------------------------------------
    def call(
        self, node: NodeEntry, method: str, path: str, body: dict[str, object] | None = None
    ) -> Call:
        """A call to ``node`` at its verified address, with its own token."""
        return Call(
            node.key,
            node.hostname,
            node.port,
            method,
            path,
            body,
            address=node.address,
            token=self.identity.token_for(node.hostname, node.key_id),
        )

    def targets(
        self, service: str, zone: str | None = None, node: str | None = None
    ) -> tuple[list[NodeEntry], list[NodeEntry]]:
        """(live, stale) daemons of ``service`` in ``zone`` / on ``node``."""
        live: list[NodeEntry] = []
        stale: list[NodeEntry] = []
        for n in self.registry.nodes():
            if n.service != service or (zone and n.zone != zone) or (node and n.hostname != node):
                continue
            (stale if self.registry.is_stale(n) else live).append(n)
        return live, stale

    def operation(
        self,
        op: Literal["sync", "reload"],
        zone: str | None = None,
        node: str | None = None,
        deadline: float | None = None,
    ) -> OperationResult:
        """``sync`` (POST /sync on pullers) or ``reload`` (POST /reload on config managers)."""
        service, path = _OPS[op]
        live, stale = self.targets(service, zone, node)
        results = self.fanout.run([self.call(n, "POST", path) for n in live], deadline)
        return OperationResult(
            op=op,
            targets=len(live),
            ok=sum(1 for r in results.values() if r.ok),
            failed={k: outcome(r) for k, r in results.items() if not r.ok},
            skipped_stale=tuple(n.key for n in stale),
            results={k: outcome(r, with_body=True) for k, r in results.items()},
        )

    # -- status --------------------------------------------------------------------------
    def status(self, zone: str | None = None, fresh: bool = False) -> ClusterStatus:
        now = time.time()
        with self._lock:
            cached = self._cache.get(zone)
            if cached and not fresh and now - cached[0] < self.cache_seconds:
                return cached[1]
        result = self._status(zone)
        with self._lock:
            self._cache[zone] = (time.time(), result)
        return result

    def _status(self, zone: str | None) -> ClusterStatus:
        started = time.monotonic()
        now = time.time()
        self.desired._start()  # the bucket read runs while the nodes are asked
        nodes = [n for n in self.registry.nodes() if not zone or n.zone == zone]
        live = [n for n in nodes if not self.registry.is_stale(n, now)]
        live_keys = {n.key for n in live}
        results = self.fanout.run(self.call(n, "GET", _STATUS_PATH[n.service]) for n in live)
        remaining = self.fanout.deadline - (time.monotonic() - started)
        state, source = self.desired.get(max(remaining, 0.05))
        expected = self._expected(state)
        by_host: dict[str, list[NodeEntry]] = {}
        for n in nodes:
            by_host.setdefault(n.hostname, []).append(n)
        hosts = [
            fold_host(
                hostname,
                entries[0].zone,
                self.registry.in_maintenance(hostname, entries[0].zone),
                [(n, self.registry.describe(n, now), results.get(n.key)) for n in entries],
                now=now,
                track_tfserving=self._track_tf,
            )
            for hostname, entries in by_host.items()
        ]
        models = models_view(hosts, expected)
        drifting = drifting_hosts(models)
        hosts = sorted(
            (drift_problems(h, models, drifting) for h in hosts),
            key=lambda h: (h.zone, h.hostname),
        )
        states = Counter(h.state for h in hosts)
        generated_at = now
        maintenance = from_json(Maintenance, self.registry.maintenance())
        summary = Summary(
            hosts=len(hosts),
            daemons=len(nodes),
            answered=sum(1 for r in results.values() if r.ok),
            healthy=states.get("healthy", 0),
            degraded=states.get("degraded", 0),
            down=states.get("down", 0),
            stale=states.get("stale", 0),
            maintenance=sum(1 for h in hosts if h.maintenance),
            zones=tuple(sorted({h.zone for h in hosts})),
        )
        verdict = triage(hosts, models, source, self.audit.last_change(), generated_at)
        status = ClusterStatus(
            generated_at=generated_at,
            elapsed_ms=0.0,
            zone=zone,
            remote=self.remote.url,
            desired=source,
            summary=summary,
            hosts=tuple(hosts),
            models=models,
            drift=tuple(sorted({x for v in models.values() for x in v.drift_hosts})),
            stale=tuple(sorted(n.key for n in nodes if n.key not in live_keys)),
            maintenance=maintenance,
            triage=verdict,
        )
        return replace(status, elapsed_ms=round((time.monotonic() - started) * 1000, 1))

    @staticmethod
    def _expected(state: DesiredState | None) -> dict[str, tuple[int, ...]] | None:
        if state is None:
            return None
        return {m: served_versions(e) for m, e in state.models.items()}

    def _track_tf(self, hostname: str, reachable: bool) -> int:
        """Remember TF Serving's reachability per host; the number of recent downs."""
        now = time.time()
        with self._lock:
            before = self._tf_seen.get(hostname)
            self._tf_seen[hostname] = reachable
            downs = [t for t in self._tf_downs.get(hostname, []) if now - t < RESTART_WINDOW]
            if before is True and not reachable:
                downs.append(now)
            self._tf_downs[hostname] = downs
            return len(downs)

    # -- serving check -------------------------------------------------------------------
    def hosts_serving(self, model: str, version: int) -> tuple[list[str], list[str]]:
        """(hosts with ``model``/``version`` in any loaded state, live config managers that
        did not answer)."""
        live, _ = self.targets("config_manager")
        results = self.fanout.run(self.call(n, "GET", "/api/v1/models") for n in live)
        serving, unknown = [], []
        for n in live:
            r = results[n.key]
            if not r.ok or not isinstance(r.body, dict):
                unknown.append(n.hostname)
                continue
            models = r.body.get("models")
            info = models.get(model) if isinstance(models, dict) else None
            if not isinstance(info, dict):
                continue
            for e in info.get("loaded") or []:
                if (
                    isinstance(e, dict)
                    and str(e.get("version")) == str(version)
                    and e.get("state") in SERVING_STATES
                ):
                    serving.append(n.hostname)
        return sorted(set(serving)), sorted(unknown)

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        self.desired.close()
