"""``modelfleet configmanager run|check-config``: the config_manager daemon under gunicorn."""

from __future__ import annotations

import click

from .nodecmd import Flag, NodeDaemonCli, add_node_daemon

__all__ = ["SPEC", "register"]

SPEC = NodeDaemonCli(
    group="configmanager",
    service="config_manager",
    help="config_manager: keep TF Serving's models.config equal to desired ∩ installed.",
    settings="configmanager.settings:ConfigManagerSettings",
    daemon="configmanager.daemon:ConfigManager",
    api="configmanager.api:blueprint",
    flags={
        "tensorflow_serving_config_file": Flag(
            "TENSORFLOW_SERVING_CONFIG_FILE", "models.config path TF Serving reads at start."
        ),
        "tensorflow_serving_grpc_target": Flag(
            "TENSORFLOW_SERVING_GRPC_TARGET", "TF Serving gRPC HOST:PORT (default 127.0.0.1:8500)."
        ),
        "tfserving_model_base": Flag(
            "MODELFLEET_TFSERVING_MODEL_BASE",
            "Where TF Serving sees LOCAL (default: LOCAL itself).",
        ),
        "reload_timeout": Flag(
            "MODELFLEET_RELOAD_TIMEOUT",
            "Deadline for a reload to be confirmed AVAILABLE (default 300 s).",
        ),
        "tfserving_timeout": Flag(
            "MODELFLEET_TFSERVING_TIMEOUT", "Deadline of status calls to TF Serving (default 5 s)."
        ),
    },
)


def register(cli: click.Group) -> None:
    add_node_daemon(cli, SPEC)
