"""config_manager: serve desired ∩ present through TF Serving's models.config and reload API.

Public names are resolved lazily (PEP 562) so that importing the settings — as the gunicorn
arbiter does — does not drag in grpc, Flask and Prometheus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .daemon import ConfigManager, PassResult
    from .settings import SERVICE, ConfigManagerSettings

_WHERE = {
    "ConfigManager": "daemon",
    "PassResult": "daemon",
    "SERVICE": "settings",
    "ConfigManagerSettings": "settings",
}

__all__ = ["SERVICE", "ConfigManager", "ConfigManagerSettings", "PassResult"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
