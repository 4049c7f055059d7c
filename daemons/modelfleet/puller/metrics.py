"""Prometheus metrics of the puller, in its own registry (one per daemon, per the contract)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PullerMetrics"]


class PullerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.remote_requests = Counter(
            "modelfleet_puller_remote_requests_total",
            "Requests made to the remote store, by kind (stat, read, list, download...).",
            ["op"],
            registry=r,
        )
        self.pulls = Counter(
            "modelfleet_puller_pulls_total", "Versions installed locally.", registry=r
        )
        self.pull_failures = Counter(
            "modelfleet_puller_pull_failures_total",
            "Versions that could not be installed, by reason.",
            ["reason"],
            registry=r,
        )
        self.pulled_bytes = Counter(
            "modelfleet_puller_pulled_bytes_total", "Bytes downloaded and verified.", registry=r
        )
        self.pull_seconds = Histogram(
            "modelfleet_puller_pull_duration_seconds",
            "Time to download, verify and install one version.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.syncs = Counter(
            "modelfleet_puller_syncs_total",
            "Sync passes, by result (unchanged, synced, error).",
            ["result"],
            registry=r,
        )
        self.last_sync = Gauge(
            "modelfleet_puller_last_sync_timestamp_seconds",
            "Unix time of the last sync pass that reached the remote store.",
            registry=r,
        )
        self.desired_generation = Gauge(
            "modelfleet_puller_desired_generation",
            "Generation of the remote desired.json last applied (0 = none).",
            registry=r,
        )
        self.local_versions = Gauge(
            "modelfleet_puller_local_versions", "Complete versions on local disk.", registry=r
        )
        self.disk_free = Gauge(
            "modelfleet_puller_disk_free_bytes", "Free bytes on the local model disk.", registry=r
        )
        self.errors = Gauge(
            "modelfleet_puller_errors",
            "Versions currently failing (reported in /api/v1/status).",
            registry=r,
        )

    def count_request(self, op: str, n: int) -> None:
        if n > 0:
            self.remote_requests.labels(op=op).inc(n)
