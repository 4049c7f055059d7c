"""Drain and undrain nodes of a local fleet the way playbooks/drain_zone.yml does on hosts.

Drain: take the nodes' records out of the fleet's DNS name, wait the DNS TTL, then wait until
each node's TF Serving request count stops moving (clients re-resolve when the server's
``max_connection_age`` sends them a GOAWAY), bounded by a deadline; only then stop TF
Serving — with SIGTERM, which ends it at once like tensorflow_model_server, so a node stopped
too early fails the calls it still had. A node that does not go idle by the deadline is left
running (out of DNS) and reported.

Undrain: start TF Serving, wait for the caller's readiness gate (its models AVAILABLE), and
only then put the records back; clients pick the nodes up at their next re-resolution, within
one connection age.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..tfserving.metrics import IdleResult, request_count, scrape, wait_idle
from .dns import LocalDNS
from .fleet import Fleet, NodeSpec

__all__ = ["DrainResult", "drain_nodes", "undrain_nodes"]


@dataclass
class DrainResult:
    """What a drain did: when DNS changed, how each node went idle, which nodes stopped."""

    dns_changed_at: float
    idle: dict[str, IdleResult] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    stopped_at: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.idle) and all(r.idle for r in self.idle.values())


def node_request_count(fleet: Fleet, node: NodeSpec, timeout: float = 2.0) -> int:
    """The node's ``:tensorflow:serving:request_count`` (MetricsError when unreadable)."""
    return request_count(scrape(fleet.metrics_url(node), timeout=timeout))


def drain_nodes(
    fleet: Fleet,
    dns: LocalDNS,
    nodes: Sequence[NodeSpec],
    *,
    deadline: float,
    quiet: float = 1.0,
    stop: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Out of DNS → TTL → request rate zero (bounded by ``deadline`` s) → stop TF Serving."""
    leaving = {n.address for n in nodes}
    dns.set_records(a for a in dns.records if a not in leaving)
    result = DrainResult(dns_changed_at=clock())
    time.sleep(dns.ttl)  # cached answers expire: a protocol wait, not a guess
    for node in nodes:
        left = max(0.1, deadline - (clock() - result.dns_changed_at))
        result.idle[node.name] = wait_idle(
            lambda n=node: node_request_count(fleet, n),  # type: ignore[misc]
            quiet=quiet,
            timeout=left,
            interval=min(0.25, quiet / 2),
        )
    if stop and result.ok:
        for node in nodes:
            fleet.kill("tfserving", node.name, signal.SIGTERM)
            result.stopped.append(node.name)
            result.stopped_at[node.name] = clock()
    return result


def undrain_nodes(
    fleet: Fleet,
    dns: LocalDNS,
    nodes: Sequence[NodeSpec],
    *,
    ready: Callable[[NodeSpec], bool],
    timeout: float = 120.0,
) -> float:
    """Start TF Serving, wait until ``ready(node)``, then return the nodes to DNS; the time
    DNS changed (``time.monotonic()``)."""
    for node in nodes:
        proc = fleet.find("tfserving", node.name)
        if proc is None or not proc.alive():
            fleet.start_node_service(node, "tfserving")
    deadline = time.monotonic() + timeout
    for node in nodes:
        while not ready(node):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.name} not ready within {timeout:.0f}s: left out of DNS")
            time.sleep(0.1)
    dns.set_records([*dns.records, *(n.address for n in nodes)])
    return time.monotonic()
