"""``modelfleet configmanager run``: the config_manager daemon under gunicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import build_settings

__all__ = ["register"]

# flag name → environment variable it overrides
_FLAGS: dict[str, str] = {
    "hostname": "HOSTNAME",
    "local_model_directory": "LOCAL_MODEL_DIRECTORY",
    "tensorflow_serving_config_file": "TENSORFLOW_SERVING_CONFIG_FILE",
    "tensorflow_serving_grpc_target": "TENSORFLOW_SERVING_GRPC_TARGET",
    "tfserving_model_base": "MODELFLEET_TFSERVING_MODEL_BASE",
    "state_dir": "MODELFLEET_STATE_DIR",
    "bind": "MODELFLEET_BIND",
    "advertise_port": "MODELFLEET_ADVERTISE_PORT",
    "master_url": "MODELFLEET_MASTER_URL",
    "cluster_token_file": "MODELFLEET_CLUSTER_TOKEN_FILE",
    "zone": "MODELFLEET_ZONE",
    "poll_interval": "MODELFLEET_POLL_INTERVAL",
    "heartbeat_interval": "MODELFLEET_HEARTBEAT_INTERVAL",
    "reload_timeout": "MODELFLEET_RELOAD_TIMEOUT",
    "tfserving_timeout": "MODELFLEET_TFSERVING_TIMEOUT",
    "log_level": "MODELFLEET_LOG_LEVEL",
}

_HELP = {
    "hostname": "Name the master calls this node by.",
    "local_model_directory": "LOCAL: complete versions installed by the puller.",
    "tensorflow_serving_config_file": "models.config path TF Serving reads at start.",
    "tensorflow_serving_grpc_target": "TF Serving gRPC HOST:PORT (default 127.0.0.1:8500).",
    "tfserving_model_base": "Where TF Serving sees LOCAL (default: LOCAL itself).",
    "state_dir": "Health files and quarantine (default /app).",
    "bind": "Admin HTTP HOST:PORT (default 0.0.0.0:8002).",
    "advertise_port": "Port registered with the master (default: the bind port).",
    "master_url": "Master URL to register with (empty: do not register).",
    "cluster_token_file": "0600 file with the cluster token (unset: admin API answers 503).",
    "zone": "Maintenance zone (default 'default').",
    "poll_interval": "Seconds between full reconcile passes (default 10).",
    "heartbeat_interval": "Seconds between registrations with the master (default 10).",
    "reload_timeout": "Deadline for a reload to be confirmed AVAILABLE (default 300 s).",
    "tfserving_timeout": "Deadline of status calls to TF Serving (default 5 s).",
    "log_level": "DEBUG, INFO, WARNING or ERROR (default INFO).",
}


def _options(fn: Any) -> Any:
    for name in reversed(list(_FLAGS)):
        flag = "--" + name.replace("_", "-")
        fn = click.option(flag, name, default=None, help=f"[{_FLAGS[name]}] {_HELP[name]}")(fn)
    return fn


def register(cli: click.Group) -> None:
    """Add ``modelfleet configmanager run|check-config`` to the ``modelfleet`` group."""

    @cli.group("configmanager")
    def configmanager() -> None:
        """config_manager: keep TF Serving's models.config equal to desired ∩ present."""

    @configmanager.command("run")
    @_options
    def run(**flags: Any) -> None:
        """Run the config manager and its admin API (/healthz /readyz /metrics /api/v1)."""
        from ..configmanager.settings import SERVICE, ConfigManagerSettings
        from ..logsetup import configure_logging

        overrides = {_FLAGS[k]: v for k, v in flags.items()}
        settings = build_settings(ConfigManagerSettings.from_env, overrides=overrides)
        configure_logging(SERVICE, settings.log_level)
        serve(settings)

    @configmanager.command("check-config")
    @_options
    def check_config(**flags: Any) -> None:
        """Validate the settings and print them (tokens hidden); exit 2 if any is wrong."""
        import dataclasses
        import json

        from ..configmanager.settings import ConfigManagerSettings

        overrides = {_FLAGS[k]: v for k, v in flags.items()}
        settings = build_settings(ConfigManagerSettings.from_env, overrides=overrides)
        shown = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(settings).items()
        }
        shown["cluster_token"] = "[set]" if settings.cluster_token else None
        click.echo(json.dumps(shown, indent=2))


def serve(settings: Any) -> None:
    """Serve the daemon with gunicorn; the daemon is created and started in the worker."""
    from ..node.server import serve_node

    def make_daemon() -> Any:
        from ..configmanager.daemon import ConfigManager

        return ConfigManager(settings)

    serve_node(make_daemon, settings.bind, settings.cluster_token)
