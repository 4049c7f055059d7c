"""Prometheus metrics of the master, in its own CollectorRegistry.

The master runs one gunicorn worker (the registry lives in its memory), so metrics need no
``PROMETHEUS_MULTIPROC_DIR``; node gauges are computed from the registry at scrape time.

``modelfleet_node_maintenance{host,zone}`` is 1 for every registered host that is in
maintenance (its own flag or its zone's), else 0: alert rules join on ``host`` to keep
planned work (a drain, a rollout batch) from paging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .registry import Registry

__all__ = ["MasterMetrics"]


class _NodesCollector(Collector):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        fam = GaugeMetricFamily(
            "modelfleet_master_nodes", "Registered node daemons by state", labels=["state"]
        )
        nodes = self.registry.nodes()
        stale = sum(1 for n in nodes if self.registry.is_stale(n))
        maint = sum(1 for n in nodes if self.registry.in_maintenance(n.hostname, n.zone))
        fam.add_metric(["live"], len(nodes) - stale)
        fam.add_metric(["stale"], stale)
        fam.add_metric(["maintenance"], maint)
        yield fam
        per_host = GaugeMetricFamily(
            "modelfleet_node_maintenance",
            "1 while a host is in maintenance (its node or zone flag): planned work, no page",
            labels=["host", "zone"],
        )
        hosts: dict[str, str] = {}
        for n in nodes:
            hosts.setdefault(n.hostname, n.zone)
        for host, zone in sorted(hosts.items()):
            per_host.add_metric([host, zone], 1 if self.registry.in_maintenance(host, zone) else 0)
        yield per_host


class MasterMetrics:
    def __init__(self, registry: Registry) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelfleet_master_http_requests_total",
            "API requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.fanout_seconds = Histogram(
            "modelfleet_master_fanout_seconds",
            "Wall time of one fan-out",
            ["path"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
            registry=self.registry,
        )
        self.fanout_calls = Counter(
            "modelfleet_master_fanout_calls_total",
            "Calls to node daemons by result",
            ["path", "result"],
            registry=self.registry,
        )
        self.desired_writes = Counter(
            "modelfleet_master_desired_writes_total",
            "Writes of the remote desired state by result",
            ["result"],
            registry=self.registry,
        )
        self.registrations_refused = Counter(
            "modelfleet_master_registrations_refused_total",
            "Registrations refused: another node's name, an unverified address, a wrong port, "
            "a full registry",
            registry=self.registry,
        )
        self.registry.register(_NodesCollector(registry))

    def observe_fanout(self, path: str, elapsed: float, ok: int, failed: int) -> None:
        self.fanout_seconds.labels(path).observe(elapsed)
        self.fanout_calls.labels(path, "ok").inc(ok)
        self.fanout_calls.labels(path, "error").inc(failed)
