"""TF Serving wire client, models.config rendering and the killswitch client.

Nothing here imports TensorFlow: the node daemons and the load generator use these with
modelfleet's own generated protos (:mod:`.proto`), wire-compatible with TF Serving.
"""

from .client import STATE_NAMES, TFServingClient, VersionStatus
from .config import ConfigError, ModelEntry, parse_config, render_config, to_proto
from .errors import KillSwitchOpen, TFServingError
from .killswitch import KillSwitch, KillSwitchClient, KillSwitchMetrics
from .tensors import make_tensor, tensor_shape, tensor_to_list

__all__ = [
    "STATE_NAMES",
    "ConfigError",
    "KillSwitch",
    "KillSwitchClient",
    "KillSwitchMetrics",
    "KillSwitchOpen",
    "ModelEntry",
    "TFServingClient",
    "TFServingError",
    "VersionStatus",
    "make_tensor",
    "parse_config",
    "render_config",
    "tensor_shape",
    "tensor_to_list",
    "to_proto",
]
