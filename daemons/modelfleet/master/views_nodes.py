"""Blueprint: node registration (each node's own token, :mod:`.identity`) and the registry
of node daemons."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from ..contracts.cluster import DaemonView
from ..contracts.master_api import ForgetReply, NodeDetail, NodeList, RegisterReply
from ..names import InvalidName
from .api import ApiError, audited, host_arg, json_body, reply, services, zone_arg
from .auditing import begin_change
from .auth import peer_address, require
from .identity import Refused
from .registry import RegistryFull, validate_registration

bp = Blueprint("nodes", __name__)

# Registration bodies come from node daemons, possibly newer ones during a rolling upgrade:
# fields this master does not know are ignored, not refused.
_ANY_FIELD: set[str] | None = None


@bp.post("/nodes/register")
@require("node")
def register() -> Any:
    """Registration + heartbeat of a node daemon (docs/contracts.md): accepted only for the
    token's own hostname, from an address that hostname resolves to, on its service's port;
    durable before the answer."""
    data = json_body(_ANY_FIELD)
    try:
        valid = validate_registration(data)
    except InvalidName as exc:
        raise ApiError(400, str(exc)) from None
    s = services()
    identity, key_id = g.node
    try:
        verified = s.identity.check(
            identity, key_id, valid["hostname"], valid["service"], valid["port"], peer_address()
        )
        entry = s.registry.register(valid, address=verified.address, key_id=verified.key_id)
    except Refused as exc:
        s.metrics.registrations_refused.inc()
        raise ApiError(exc.status, exc.message, reason="registration_refused") from None
    except RegistryFull as exc:
        s.metrics.registrations_refused.inc()
        raise ApiError(429, str(exc), reason="registry_full") from None
    return reply(
        RegisterReply(
            registered=True, maintenance=s.registry.in_maintenance(entry.hostname, entry.zone)
        )
    )


@bp.get("/nodes")
@require("read")
def list_nodes() -> Any:
    s = services()
    zone = request.args.get("zone")
    if zone is not None:
        zone_arg(zone)
    nodes = tuple(
        DaemonView(**s.registry.describe(n))
        for n in s.registry.nodes()
        if zone is None or n.zone == zone
    )
    return reply(NodeList(nodes=nodes, count=len(nodes)))


@bp.get("/nodes/<host:hostname>")
@require("read")
def node_detail(hostname: str) -> Any:
    host_arg(hostname, "hostname")
    s = services()
    daemons = tuple(
        DaemonView(**s.registry.describe(n)) for n in s.registry.hosts().get(hostname, [])
    )
    if not daemons:
        raise ApiError(404, f"no node {hostname!r} is registered")
    status = s.cluster.status()
    live = next((h for h in status.hosts if h.hostname == hostname), None)
    return reply(NodeDetail(hostname=hostname, daemons=daemons, status=live))


@bp.delete("/nodes/<host:hostname>")
@require("admin")
@audited("forget_node")
def forget_node(hostname: str) -> Any:
    host_arg(hostname, "hostname")
    begin_change()
    removed = services().registry.forget(hostname)
    if not removed:
        raise ApiError(404, f"no node {hostname!r} is registered")
    services().cluster.invalidate()
    return reply(ForgetReply(forgotten=hostname, daemons=removed))
