"""Prometheus metrics of config_manager, on its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ConfigManagerMetrics"]


class ConfigManagerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        p = "modelfleet_configmanager_"
        self.passes = Counter(
            p + "passes_total", "Reconcile passes by result.", ["result"], registry=r
        )
        self.reloads = Counter(
            p + "reloads_total",
            "HandleReloadConfigRequest calls by result.",
            ["result"],
            registry=r,
        )
        self.reload_seconds = Histogram(
            p + "reload_seconds",
            "Time from sending a config to all its versions confirmed AVAILABLE (or failed).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.config_writes = Counter(
            p + "config_writes_total", "models.config rewrites (content changed).", registry=r
        )
        self.quarantined = Gauge(
            p + "quarantined_versions", "Versions quarantined after failing to load.", registry=r
        )
        self.served = Gauge(p + "served_versions", "Versions in the applied config.", registry=r)
        self.tfserving_up = Gauge(
            p + "tfserving_up", "1 if TF Serving answered the last pass.", registry=r
        )
        self.deleted = Counter(
            p + "deleted_versions_total",
            "Local versions freed after TF Serving unloaded them.",
            registry=r,
        )
        self.local_problems = Gauge(
            p + "local_problems", "Invalid entries found in the local model directory.", registry=r
        )
