"""A whole modelfleet on one machine, on loopback: what `make demo` and the chaos suite run.

Each node gets its own 127.0.x.y address, so every node uses the RUNBOOK's real ports
(tfserving 8500, remote_model_puller 8001, config_manager 8002) exactly as on a fleet.
"""

from .fleet import Fleet, FleetSpec, NodeSpec

__all__ = ["Fleet", "FleetSpec", "NodeSpec"]
