"""Blueprint: node registration (cluster token), the registry, cluster status and operations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from ..names import InvalidName
from .api import ApiError, audited, body, host_arg, services, zone_arg
from .auth import require
from .registry import validate_registration

bp = Blueprint("nodes", __name__)


@bp.post("/nodes/register")
@require("cluster")
def register() -> Any:
    """Registration + heartbeat of a node daemon (docs/contracts.md)."""
    data = request.get_json(silent=True)
    try:
        valid = validate_registration(data)
    except InvalidName as exc:
        raise ApiError(400, str(exc)) from None
    s = services()
    entry = s.registry.register(valid)
    return jsonify(
        {"registered": True, "maintenance": s.registry.in_maintenance(entry.hostname, entry.zone)}
    )


@bp.get("/nodes")
@require("read")
def list_nodes() -> Any:
    s = services()
    zone = request.args.get("zone")
    if zone is not None:
        zone_arg(zone)
    nodes = [s.registry.describe(n) for n in s.registry.nodes() if zone is None or n.zone == zone]
    return jsonify({"nodes": nodes, "count": len(nodes)})


@bp.get("/nodes/<hostname>")
@require("read")
def node_detail(hostname: str) -> Any:
    host_arg(hostname, "hostname")
    s = services()
    daemons = [s.registry.describe(n) for n in s.registry.hosts().get(hostname, [])]
    if not daemons:
        raise ApiError(404, f"no node {hostname!r} is registered")
    status = s.cluster.status()
    live = next((h for h in status["hosts"] if h["hostname"] == hostname), None)
    return jsonify({"hostname": hostname, "daemons": daemons, "status": live})


@bp.delete("/nodes/<hostname>")
@require("admin")
@audited("forget_node")
def forget_node(hostname: str) -> Any:
    host_arg(hostname, "hostname")
    removed = services().registry.forget(hostname)
    if not removed:
        raise ApiError(404, f"no node {hostname!r} is registered")
    services().cluster.invalidate()
    return jsonify({"forgotten": hostname, "daemons": removed})


def _fresh() -> bool:
    value = request.args.get("fresh", "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "fresh must be true or false")
    return value in ("true", "1")


@bp.get("/cluster/status")
@require("read")
def cluster_status() -> Any:
    zone = request.args.get("zone")
    if zone is not None:
        zone_arg(zone)
    return jsonify(services().cluster.status(zone, fresh=_fresh()))


@bp.get("/triage")
@require("read")
def triage() -> Any:
    status = services().cluster.status(fresh=_fresh())
    return jsonify({**status["triage"], "generated_at": status["generated_at"]})


def _operation(op: str) -> Any:
    data = body({"zone", "node", "deadline"})
    zone = zone_arg(data["zone"]) if data.get("zone") is not None else None
    node = host_arg(data["node"]) if data.get("node") is not None else None
    deadline = data.get("deadline")
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not 0 < deadline <= 60
    ):
        raise ApiError(400, "deadline must be a number of seconds in (0, 60]")
    result = services().cluster.operation(op, zone, node, deadline)
    services().cluster.invalidate()
    return jsonify(result)


@bp.post("/cluster/sync")
@require("admin")
@audited("sync")
def cluster_sync() -> Any:
    """Wake every puller (or those of a zone/node) to sync now."""
    return _operation("sync")


@bp.post("/cluster/reload")
@require("admin")
@audited("reload")
def cluster_reload() -> Any:
    """Ask every config manager (or those of a zone/node) to reload TF Serving's config."""
    return _operation("reload")


@bp.get("/maintenance")
@require("read")
def get_maintenance() -> Any:
    return jsonify(services().registry.maintenance())


@bp.post("/maintenance")
@require("admin")
@audited("maintenance")
def set_maintenance() -> Any:
    data = body({"zone", "node", "enabled", "reason"})
    if (data.get("zone") is None) == (data.get("node") is None):
        raise ApiError(400, "give exactly one of zone or node")
    if "enabled" not in data:
        raise ApiError(400, "enabled (true/false) is required")
    enabled = data["enabled"]
    if not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be true or false")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise ApiError(400, "reason must be a string of at most 500 characters")
    if data.get("zone") is not None:
        kind, name = "zones", zone_arg(data["zone"])
    else:
        kind, name = "nodes", host_arg(data["node"])
    from flask import g

    changed = services().registry.set_maintenance(kind, name, enabled, by=g.who, reason=reason)
    services().cluster.invalidate()
    return jsonify(
        {
            kind[:-1]: name,
            "enabled": enabled,
            "changed": changed,
            "maintenance": services().registry.maintenance(),
        }
    )


@bp.get("/drain-check")
@require("read")
def drain_check() -> Any:
    zone = request.args.get("zone")
    if zone is None:
        raise ApiError(400, "query parameter zone is required")
    zone_arg(zone)
    raw = request.args.get("min_share")
    min_share = None
    if raw is not None:
        try:
            min_share = float(raw)
        except ValueError:
            raise ApiError(400, "min_share must be a number between 0 and 1") from None
        if not 0 <= min_share <= 1:
            raise ApiError(400, "min_share must be a number between 0 and 1")
    return jsonify(services().cluster.drain_check(zone, min_share))


@bp.get("/audit")
@require("read")
def audit() -> Any:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise ApiError(400, "limit must be an integer between 1 and 10000")
    entries = services().audit.tail(int(raw))
    return jsonify({"entries": entries, "count": len(entries)})
