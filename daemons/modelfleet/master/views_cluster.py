"""Blueprint: cluster status and triage, sync/reload fan-outs, maintenance, drain guard, audit."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, g, request

from ..contracts.cluster import AuditPage, Maintenance
from ..contracts.master_api import MaintenanceBody, MaintenanceChange, TargetBody
from ..contracts.schema import from_json
from .api import (
    ApiError,
    audited,
    int_query,
    parse_body,
    reply,
    services,
    zone_arg,
)
from .auditing import begin_change
from .auth import require
from .drain import drain_check as check_drain

bp = Blueprint("cluster", __name__)

MAX_AUDIT_LIMIT = 1000


def _fresh() -> bool:
    value = request.args.get("fresh", "false")
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "fresh must be true or false")
    return value in ("true", "1")


def _zone_query() -> str | None:
    zone = request.args.get("zone")
    return None if zone is None else zone_arg(zone)


@bp.get("/cluster/status")
@require("read")
def cluster_status() -> Any:
    zone = _zone_query()
    return reply(services().cluster.status(zone, fresh=_fresh()))


@bp.get("/triage")
@require("read")
def triage() -> Any:
    return reply(services().cluster.status(fresh=_fresh()).triage)


def _operation(op: Literal["sync", "reload"]) -> Any:
    body = parse_body(TargetBody)
    begin_change()
    result = services().cluster.operation(op, body.zone, body.node, body.deadline)
    services().cluster.invalidate()
    return reply(result)


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


def _maintenance() -> Maintenance:
    result: Maintenance = from_json(Maintenance, services().registry.maintenance())
    return result


@bp.get("/maintenance")
@require("read")
def get_maintenance() -> Any:
    return reply(_maintenance())


@bp.post("/maintenance")
@require("admin")
@audited("maintenance")
def set_maintenance() -> Any:
    body = parse_body(MaintenanceBody)
    if (body.zone is None) == (body.node is None):
        raise ApiError(400, "give exactly one of zone or node")
    kind, name = ("zones", body.zone) if body.zone is not None else ("nodes", body.node)
    assert name is not None
    begin_change()
    changed = services().registry.set_maintenance(
        kind, name, body.enabled, by=g.who, reason=body.reason
    )
    services().cluster.invalidate()
    return reply(
        MaintenanceChange(
            enabled=body.enabled,
            changed=changed,
            maintenance=_maintenance(),
            zone=body.zone,
            node=body.node,
        )
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
            min_share = float(raw) if raw.isascii() else float("nan")
        except ValueError:
            min_share = float("nan")
        if not 0 <= min_share <= 1:  # NaN fails too
            raise ApiError(400, "min_share must be a number between 0 and 1")
    return reply(check_drain(services().cluster, zone, min_share))


@bp.get("/audit")
@require("read")
def audit() -> Any:
    limit = int_query("limit", 100, 1, MAX_AUDIT_LIMIT)
    entries = tuple(services().audit.tail(limit))
    return reply(AuditPage(entries=entries, count=len(entries)))
