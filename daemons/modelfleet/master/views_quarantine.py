"""Blueprint: quarantined versions across the fleet, and clearing them.

A version that fails to load is quarantined by each node's config manager and never tried
again there (invariant 3). Operators see every node's entries here, and clear them once the
cause is fixed (a transient failure: memory, disk, a TF Serving bug fixed by an upgrade) so
the nodes try the version again at once:

- ``GET /api/v1/quarantine[?model=M][&version=V][&zone=Z][&node=N]`` (read) fans out to the
  live config managers → :class:`~modelfleet.contracts.master_api.QuarantineReport`;
- ``DELETE /api/v1/quarantine/<model>[/<version>][?zone=Z][&node=N]`` (admin, audited) fans
  out the clear → :class:`~modelfleet.contracts.master_api.QuarantineClearReport`.

A node that does not answer is listed under ``failed`` (nothing is retried behind the
operator's back); a stale node is skipped and listed. Names are validated before they go
into a node URL, and every path segment and query value is URL-quoted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, request

from ..contracts.master_api import HostQuarantine, QuarantineClearReport, QuarantineReport
from ..contracts.node import QuarantineClearResult, QuarantineEntry, QuarantineList
from ..contracts.schema import ContractError, from_json
from .api import audited, host_arg, model_arg, reply, services, version_path_arg, zone_arg
from .auditing import begin_change
from .auth import require
from .cluster import outcome
from .fanout import CallResult
from .registry import NodeEntry

__all__ = ["bp"]

bp = Blueprint("quarantine", __name__)

SERVICE = "config_manager"


def _scope() -> tuple[str | None, str | None]:
    zone = request.args.get("zone")
    node = request.args.get("node")
    return (
        zone_arg(zone) if zone is not None else None,
        host_arg(node) if node is not None else None,
    )


def _host_entry(n: NodeEntry, e: QuarantineEntry) -> HostQuarantine:
    return HostQuarantine(n.hostname, n.zone, e.model, e.version, e.error, e.at, e.identity)


def _fan(
    method: str, path: str, zone: str | None, node: str | None
) -> tuple[list[NodeEntry], list[NodeEntry], dict[str, CallResult]]:
    cluster = services().cluster
    live, stale = cluster.targets(SERVICE, zone, node)
    results = cluster.fanout.run([cluster.call(n, method, path) for n in live])
    return live, stale, results


def _parsed(result: CallResult, tp: Any) -> Any:
    """The node's answer checked against its contract; marks the call failed if it is not."""
    if not result.ok:
        return None
    try:
        return from_json(tp, result.body)
    except ContractError as exc:
        result.ok, result.error = False, f"answer breaks its contract: {exc}"
        return None


@bp.get("/quarantine")
@require("read")
def list_quarantine() -> Any:
    model = request.args.get("model")
    version = request.args.get("version")
    query: dict[str, str | int] = {}
    if model is not None:
        query["model"] = model_arg(model)
    if version is not None:
        query["version"] = version_path_arg(version)
    zone, node = _scope()
    path = "/api/v1/quarantine" + (f"?{urlencode(query)}" if query else "")
    live, stale, results = _fan("GET", path, zone, node)
    entries: list[HostQuarantine] = []
    for n in live:
        answer = _parsed(results[n.key], QuarantineList)
        if answer is not None:
            entries.extend(_host_entry(n, e) for e in answer.quarantined)
    return reply(
        QuarantineReport(
            entries=tuple(sorted(entries, key=lambda e: (e.model, e.version, e.hostname))),
            targets=len(live),
            answered=sum(1 for r in results.values() if r.ok),
            failed={k: outcome(r) for k, r in results.items() if not r.ok},
            skipped_stale=tuple(n.key for n in stale),
        )
    )


@bp.delete("/quarantine/<model>")
@bp.delete("/quarantine/<model>/<version>")
@require("admin")
@audited("quarantine_clear")
def clear_quarantine(model: str, version: str | None = None) -> Any:
    name = model_arg(model)
    number = version_path_arg(version) if version is not None else None
    zone, node = _scope()
    path = f"/api/v1/quarantine/{quote(name, safe='')}"
    if number is not None:
        path += f"/{number}"
    begin_change()
    live, stale, results = _fan("DELETE", path, zone, node)
    cleared: list[HostQuarantine] = []
    for n in live:
        answer = _parsed(results[n.key], QuarantineClearResult)
        if answer is not None:
            cleared.extend(_host_entry(n, e) for e in answer.cleared)
    services().cluster.invalidate()
    return reply(
        QuarantineClearReport(
            model=name,
            version=number,
            cleared=tuple(sorted(cleared, key=lambda e: (e.version, e.hostname))),
            targets=len(live),
            ok=sum(1 for r in results.values() if r.ok),
            failed={k: outcome(r) for k, r in results.items() if not r.ok},
            skipped_stale=tuple(n.key for n in stale),
        )
    )
