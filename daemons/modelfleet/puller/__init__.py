"""remote_model_puller: verified, atomic model pulls from a GCS or local bucket."""

from .daemon import PullerDaemon
from .downloader import PullError, pull_version
from .localdir import LocalModels
from .metrics import PullerMetrics
from .settings import SERVICE, PullerSettings

__all__ = [
    "SERVICE",
    "LocalModels",
    "PullError",
    "PullerDaemon",
    "PullerMetrics",
    "PullerSettings",
    "pull_version",
]
