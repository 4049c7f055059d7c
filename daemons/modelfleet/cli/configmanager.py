"""``modelfleet configmanager run|check-config``: the config_manager daemon under gunicorn."""

from __future__ import annotations

import click

from .nodecmd import Flag, NodeDaemonCli, add_node_daemon

__all__ = ["SPEC", "register"]

SPEC = NodeDaemonCli(
    group="configmanager",
    service="config_manager",
    help="config_manager: keep TF Serving's models.config equal to desired ∩ present.",
    settings="configmanager.settings:ConfigManagerSettings",
    daemon="configmanager.daemon:ConfigManager",
    flags={
        "hostname": Flag("HOSTNAME", "Name the master calls this node by."),
        "local_model_directory": Flag(
            "LOCAL_MODEL_DIRECTORY", "LOCAL: complete versions installed by the puller."
        ),
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
        "state_dir": Flag("MODELFLEET_STATE_DIR", "Health files and quarantine (default /app)."),
        "bind": Flag("MODELFLEET_BIND", "Admin HTTP HOST:PORT (default 0.0.0.0:8002)."),
        "advertise_port": Flag(
            "MODELFLEET_ADVERTISE_PORT", "Port registered with the master (default: the bind port)."
        ),
        "master_url": Flag(
            "MODELFLEET_MASTER_URL", "Master URL to register with (empty: do not register)."
        ),
        "cluster_token_file": Flag(
            "MODELFLEET_CLUSTER_TOKEN_FILE",
            "0600 file with the cluster token (unset: admin API answers 503).",
        ),
        "zone": Flag("MODELFLEET_ZONE", "Maintenance zone (default 'default')."),
        "poll_interval": Flag(
            "MODELFLEET_POLL_INTERVAL", "Seconds between full reconcile passes (default 10)."
        ),
        "heartbeat_interval": Flag(
            "MODELFLEET_HEARTBEAT_INTERVAL",
            "Seconds between registrations with the master (default 10).",
        ),
        "reload_timeout": Flag(
            "MODELFLEET_RELOAD_TIMEOUT",
            "Deadline for a reload to be confirmed AVAILABLE (default 300 s).",
        ),
        "tfserving_timeout": Flag(
            "MODELFLEET_TFSERVING_TIMEOUT", "Deadline of status calls to TF Serving (default 5 s)."
        ),
        "log_level": Flag("MODELFLEET_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default INFO)."),
    },
)


def register(cli: click.Group) -> None:
    add_node_daemon(cli, SPEC)
