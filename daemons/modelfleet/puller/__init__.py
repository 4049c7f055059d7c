"""remote_model_puller: verified, atomic model pulls from a GCS or local bucket.

Public names are resolved lazily (PEP 562) so that importing the settings — as the gunicorn
arbiter does — does not drag in Flask, google-cloud-storage and Prometheus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .daemon import PullerDaemon
    from .downloader import PullError, pull_version
    from .metrics import PullerMetrics
    from .settings import SERVICE, PullerSettings

_WHERE = {
    "PullerDaemon": "daemon",
    "PullError": "downloader",
    "pull_version": "downloader",
    "PullerMetrics": "metrics",
    "SERVICE": "settings",
    "PullerSettings": "settings",
}

__all__ = [
    "SERVICE",
    "PullError",
    "PullerDaemon",
    "PullerMetrics",
    "PullerSettings",
    "pull_version",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
