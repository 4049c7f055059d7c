"""config_manager: serve desired ∩ present through TF Serving's models.config and reload API."""

from .daemon import ConfigManager, PassResult
from .settings import SERVICE, ConfigManagerSettings

__all__ = ["SERVICE", "ConfigManager", "ConfigManagerSettings", "PassResult"]
