"""Cluster operations over the registry: live status, sync/reload fan-out, drain guard.

:class:`Cluster` is the one object the views talk to. It asks the node daemons through
:class:`~.fanout.FanOut` (bounded, per-node deadline, partial results) and folds the answers
into a host-centric status: which versions each host serves and in what state, drift
against the desired state and between hosts, stale nodes, restarts, and the triage verdict.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from .audit import AuditLog
from .desired import effective_versions, model_entry
from .fanout import Call, CallResult, FanOut
from .registry import NodeEntry, Registry
from .remote import RemoteState, StoreError
from .triage import triage

__all__ = ["Cluster"]

RESTART_WINDOW = 15 * 60.0
SERVING_STATES = ("AVAILABLE", "LOADING", "UNLOADING")
_STATUS_PATH = {"remote_model_puller": "/api/v1/status", "config_manager": "/api/v1/models"}


class Cluster:
    def __init__(
        self,
        registry: Registry,
        fanout: FanOut,
        remote: RemoteState,
        audit: AuditLog,
        *,
        drain_min_share: float = 0.75,
        cache_seconds: float = 2.0,
    ) -> None:
        self.registry = registry
        self.fanout = fanout
        self.remote = remote
        self.audit = audit
        self.drain_min_share = drain_min_share
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cache: dict[str | None, tuple[float, dict[str, Any]]] = {}
        self._tf_seen: dict[str, bool] = {}
        self._tf_downs: dict[str, list[float]] = {}

    # -- targets -------------------------------------------------------------------------
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
        op: str,
        zone: str | None = None,
        node: str | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """``sync`` (POST /sync on pullers) or ``reload`` (POST /reload on config managers)."""
        service, path = {
            "sync": ("remote_model_puller", "/api/v1/sync"),
            "reload": ("config_manager", "/api/v1/reload"),
        }[op]
        live, stale = self.targets(service, zone, node)
        results = self.fanout.run(
            [Call(n.key, n.hostname, n.port, "POST", path) for n in live], deadline
        )
        failed = {k: r.as_dict() for k, r in results.items() if not r.ok}
        return {
            "op": op,
            "targets": len(live),
            "ok": len(results) - len(failed),
            "failed": failed,
            "skipped_stale": [n.key for n in stale],
            "results": {k: {**r.as_dict(), "body": r.body} for k, r in results.items()},
        }

    # -- status --------------------------------------------------------------------------
    def status(self, zone: str | None = None, fresh: bool = False) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            cached = self._cache.get(zone)
            if cached and not fresh and now - cached[0] < self.cache_seconds:
                return cached[1]
        result = self._status(zone)
        with self._lock:
            self._cache[zone] = (time.time(), result)
        return result

    def _desired(self) -> tuple[dict[str, list[int]] | None, str]:
        try:
            doc, _ = self.remote.read_desired()
        except (StoreError, OSError) as exc:
            return None, str(exc)
        expected = {}
        for model in doc.get("models", {}):
            try:
                expected[model] = effective_versions(model_entry(doc, model))
            except (TypeError, ValueError, AttributeError):
                continue
        return expected, ""

    def _status(self, zone: str | None) -> dict[str, Any]:
        started = time.monotonic()
        now = time.time()
        nodes = [n for n in self.registry.nodes() if not zone or n.zone == zone]
        live = [n for n in nodes if not self.registry.is_stale(n, now)]
        results = self.fanout.run(
            Call(n.key, n.hostname, n.port, "GET", _STATUS_PATH[n.service]) for n in live
        )
        expected, desired_error = self._desired()
        hosts: dict[str, dict[str, Any]] = {}
        for n in nodes:
            host = hosts.setdefault(n.hostname, self._new_host(n))
            host["services"][n.service] = self._service_view(n, results.get(n.key), now)
        host_list = [self._finish_host(h, expected, now) for h in hosts.values()]
        models = self._models_view(host_list, expected)
        for h in host_list:
            h["drift"] = sorted(m for m, v in models.items() if h["hostname"] in v["drift_hosts"])
            if h["drift"] and h["state"] == "healthy":
                h["state"] = "degraded"
                h["problems"].append(f"drift on {', '.join(h['drift'])}")
        states = Counter(h["state"] for h in host_list)
        status: dict[str, Any] = {
            "generated_at": now,
            "elapsed_ms": 0.0,
            "zone": zone,
            "remote": self.remote.url,
            "desired_error": desired_error,
            "summary": {
                "hosts": len(host_list),
                "daemons": len(nodes),
                "answered": sum(1 for r in results.values() if r.ok),
                "healthy": states.get("healthy", 0),
                "degraded": states.get("degraded", 0),
                "down": states.get("down", 0),
                "stale": states.get("stale", 0),
                "maintenance": sum(1 for h in host_list if h["maintenance"]),
                "zones": sorted({h["zone"] for h in host_list}),
            },
            "hosts": sorted(host_list, key=lambda h: (h["zone"], h["hostname"])),
            "models": models,
            "drift": sorted({x for v in models.values() for x in v["drift_hosts"]}),
            "stale": sorted(n.key for n in nodes if n not in live),
            "maintenance": self.registry.maintenance(),
        }
        status["triage"] = triage(status, self.last_change())
        status["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
        return status

    def _new_host(self, n: NodeEntry) -> dict[str, Any]:
        return {
            "hostname": n.hostname,
            "zone": n.zone,
            "maintenance": self.registry.in_maintenance(n.hostname, n.zone),
            "services": {},
            "tfserving": {"reachable": None, "error": "config_manager not registered"},
            "models": {},
            "serving": {},
            "problems": [],
            "restarts": {"tfserving": 0, "helpers": 0},
        }

    def _service_view(self, n: NodeEntry, result: CallResult | None, now: float) -> dict[str, Any]:
        view = self.registry.describe(n, now)
        view["_return_times"] = list(n.return_times)
        if result is None:
            view.update(ok=False, error="stale: no heartbeat", body=None)
        else:
            view.update(
                ok=result.ok, error=result.error, elapsed_ms=round(result.elapsed * 1000, 1)
            )
            view["body"] = result.body if result.ok and isinstance(result.body, dict) else None
        return view

    def _finish_host(
        self, host: dict[str, Any], expected: dict[str, list[int]] | None, now: float
    ) -> dict[str, Any]:
        services = host["services"]
        problems = host["problems"]
        for name, svc in services.items():
            if not svc["ok"]:
                problems.append(f"{name}: {svc['error']}")
        cm = services.get("config_manager")
        if cm is not None and cm["ok"] and cm["body"]:
            body = cm["body"]
            tf = body.get("tfserving") or {}
            reachable = bool(tf.get("reachable"))
            host["tfserving"] = {"reachable": reachable, "error": tf.get("error") or ""}
            if not reachable:
                problems.append(f"tfserving unreachable: {tf.get('error') or 'no answer'}")
            for model, info in (body.get("models") or {}).items():
                if not isinstance(info, dict):
                    continue
                loaded = {
                    str(e.get("version")): e.get("state")
                    for e in info.get("loaded") or []
                    if isinstance(e, dict)
                }
                host["models"][model] = {
                    "loaded": loaded,
                    "desired": info.get("desired") or [],
                    "local": info.get("local") or [],
                    "quarantined": info.get("quarantined") or [],
                }
                host["serving"][model] = sorted(
                    int(v) for v, s in loaded.items() if s == "AVAILABLE" and v.isdigit()
                )
                if info.get("quarantined"):
                    problems.append(f"{model}: quarantined versions")
            self._track_tf(host["hostname"], reachable, now)
        elif cm is not None:
            host["tfserving"] = {"reachable": None, "error": "config_manager did not answer"}
        host["restarts"] = {
            "tfserving": self._recent_downs(host["hostname"], now),
            "helpers": sum(
                sum(1 for t in svc.pop("_return_times") if now - t < RESTART_WINDOW)
                for svc in services.values()
            ),
        }
        all_stale = all(svc["stale"] for svc in services.values())
        if all_stale:
            host["state"] = "stale"
        elif host["tfserving"]["reachable"] is False:
            host["state"] = "down"
        elif problems or len(services) < 2:
            host["state"] = "degraded"
            if len(services) < 2:
                missing = {"remote_model_puller", "config_manager"} - set(services)
                problems.append(f"not registered: {', '.join(sorted(missing))}")
        else:
            host["state"] = "healthy"
        for svc in services.values():
            svc.pop("body", None)
        return host

    def _track_tf(self, hostname: str, reachable: bool, now: float) -> None:
        with self._lock:
            before = self._tf_seen.get(hostname)
            self._tf_seen[hostname] = reachable
            if before is True and not reachable:
                downs = [t for t in self._tf_downs.get(hostname, []) if now - t < RESTART_WINDOW]
                self._tf_downs[hostname] = [*downs, now]

    def _recent_downs(self, hostname: str, now: float) -> int:
        with self._lock:
            return sum(1 for t in self._tf_downs.get(hostname, []) if now - t < RESTART_WINDOW)

    @staticmethod
    def _models_view(
        hosts: list[dict[str, Any]], expected: dict[str, list[int]] | None
    ) -> dict[str, dict[str, Any]]:
        names = set(expected or {})
        for h in hosts:
            names.update(h["serving"])
        out: dict[str, dict[str, Any]] = {}
        answering = [h for h in hosts if h["tfserving"]["reachable"] and not h["maintenance"]]
        for model in sorted(names):
            sets: dict[str, list[str]] = {}
            for h in answering:
                key = ",".join(str(v) for v in h["serving"].get(model, [])) or "-"
                sets.setdefault(key, []).append(h["hostname"])
            if expected is not None and model in expected:
                want = ",".join(str(v) for v in expected[model]) or "-"
            else:
                want = max(sets, key=lambda k: len(sets[k])) if sets else "-"
            out[model] = {
                "expected": expected.get(model) if expected is not None else None,
                "serving": {k: sorted(v) for k, v in sorted(sets.items())},
                "drift_hosts": sorted(x for k, v in sets.items() if k != want for x in v),
            }
        return out

    # -- serving check, drain guard, audit -------------------------------------------------
    def hosts_serving(self, model: str, version: int) -> tuple[list[str], list[str]]:
        """(hosts serving ``model``/``version`` in any loaded state, live config managers that
        did not answer)."""
        live, _ = self.targets("config_manager")
        results = self.fanout.run(
            Call(n.key, n.hostname, n.port, "GET", "/api/v1/models") for n in live
        )
        serving, unknown = [], []
        for n in live:
            r = results[n.key]
            if not r.ok or not isinstance(r.body, dict):
                unknown.append(n.hostname)
                continue
            info = (r.body.get("models") or {}).get(model) or {}
            for e in info.get("loaded") or []:
                if str(e.get("version")) == str(version) and e.get("state") in SERVING_STATES:
                    serving.append(n.hostname)
        return sorted(set(serving)), sorted(unknown)

    def drain_check(self, zone: str, min_share: float | None = None) -> dict[str, Any]:
        share_needed = self.drain_min_share if min_share is None else min_share
        status = self.status(fresh=True)
        hosts = status["hosts"]
        total = len(hosts)
        in_zone = [h for h in hosts if h["zone"] == zone]
        outside_ok = [
            h["hostname"]
            for h in hosts
            if h["zone"] != zone
            and not h["maintenance"]
            and h["state"] in ("healthy", "degraded")
            and h["tfserving"]["reachable"]
        ]
        share = len(outside_ok) / total if total else 0.0
        others = sorted(z for z in self.registry.maintenance()["zones"] if z != zone)
        reasons = []
        allowed = True
        if not in_zone:
            reasons.append(f"no registered nodes in zone {zone}: draining it removes no capacity")
        if others:
            allowed = False
            reasons.append(f"other zones already in maintenance: {', '.join(others)}")
        if total == 0:
            allowed = False
            reasons.append("no registered nodes at all: cannot judge capacity")
        elif share + 1e-9 < share_needed:
            allowed = False
            reasons.append(
                f"only {len(outside_ok)} of {total} nodes ({share:.0%}) outside {zone} are "
                f"healthy and serving; {share_needed:.0%} required"
            )
        else:
            reasons.append(
                f"{len(outside_ok)} of {total} nodes ({share:.0%}) outside {zone} are healthy "
                f"and serving (≥ {share_needed:.0%} required)"
            )
        if allowed and not others:
            reasons.append("no other zone is in maintenance")
        return {
            "zone": zone,
            "allowed": allowed,
            "reasons": reasons,
            "capacity": {
                "total_nodes": total,
                "nodes_in_zone": len(in_zone),
                "healthy_serving_outside_zone": len(outside_ok),
                "share": round(share, 4),
                "required_share": share_needed,
            },
            "zones_in_maintenance": sorted(self.registry.maintenance()["zones"]),
        }

    def last_change(self) -> dict[str, Any] | None:
        for entry in reversed(self.audit.tail(200)):
            if entry.get("model") and entry.get("result") == "ok":
                return entry
        return None

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
