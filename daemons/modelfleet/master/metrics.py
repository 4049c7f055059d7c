"""Prometheus metrics of the master, in its own CollectorRegistry.

The master runs one gunicorn worker (the registry lives in its memory), so metrics need no
``PROMETHEUS_MULTIPROC_DIR``; node gauges are computed from the registry at scrape time.
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
        self.registry.register(_NodesCollector(registry))

    def observe_fanout(self, path: str, elapsed: float, ok: int, failed: int) -> None:
        self.fanout_seconds.labels(path).observe(elapsed)
        self.fanout_calls.labels(path, "ok").inc(ok)
        self.fanout_calls.labels(path, "error").inc(failed)
