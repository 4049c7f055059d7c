"""The drain guard: may a maintenance zone be taken out now?

Asked by the drain playbook before it touches a zone (``GET /api/v1/drain-check``). It
judges capacity on a fresh cluster status — bounded by the status deadline however sick
the bucket is — from host states and TF Serving reachability, never from message text.
"""

from __future__ import annotations

from ..contracts.cluster import DrainCapacity, DrainCheck
from .cluster import Cluster

__all__ = ["drain_check"]


def drain_check(cluster: Cluster, zone: str, min_share: float | None = None) -> DrainCheck:
    """Allowed when the healthy serving hosts outside ``zone`` keep at least ``min_share``
    of all registered hosts and no other zone is in maintenance."""
    share_needed = cluster.drain_min_share if min_share is None else min_share
    status = cluster.status(fresh=True)
    hosts = status.hosts
    total = len(hosts)
    in_zone = [h for h in hosts if h.zone == zone]
    outside_ok = [
        h.hostname
        for h in hosts
        if h.zone != zone
        and not h.maintenance
        and h.state in ("healthy", "degraded")
        and h.tfserving.reachable
    ]
    share = len(outside_ok) / total if total else 0.0
    in_maintenance = sorted(status.maintenance.zones)
    others = [z for z in in_maintenance if z != zone]
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
    return DrainCheck(
        zone=zone,
        allowed=allowed,
        reasons=tuple(reasons),
        capacity=DrainCapacity(
            total_nodes=total,
            nodes_in_zone=len(in_zone),
            healthy_serving_outside_zone=len(outside_ok),
            share=round(share, 4),
            required_share=share_needed,
        ),
        zones_in_maintenance=tuple(in_maintenance),
    )
