"""``modelfleet puller run``: the remote_model_puller daemon under gunicorn."""

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
    "remote_model_directory": "REMOTE_MODEL_DIRECTORY",
    "cloudsdk_config": "CLOUDSDK_CONFIG",
    "state_dir": "MODELFLEET_STATE_DIR",
    "bind": "MODELFLEET_BIND",
    "advertise_port": "MODELFLEET_ADVERTISE_PORT",
    "master_url": "MODELFLEET_MASTER_URL",
    "cluster_token_file": "MODELFLEET_CLUSTER_TOKEN_FILE",
    "zone": "MODELFLEET_ZONE",
    "poll_interval": "MODELFLEET_POLL_INTERVAL",
    "heartbeat_interval": "MODELFLEET_HEARTBEAT_INTERVAL",
    "log_level": "MODELFLEET_LOG_LEVEL",
    "retention": "MODELFLEET_RETENTION",
    "disk_reserve_mb": "MODELFLEET_DISK_RESERVE_MB",
    "download_workers": "MODELFLEET_DOWNLOAD_WORKERS",
    "slice_size_mb": "MODELFLEET_SLICE_SIZE_MB",
    "fsync": "MODELFLEET_FSYNC",
}

_HELP = {
    "hostname": "Name the master calls this node by.",
    "local_model_directory": "LOCAL: where complete versions are installed.",
    "remote_model_directory": "gs://bucket[/prefix] or an absolute local path.",
    "cloudsdk_config": "Directory holding application_default_credentials.json.",
    "state_dir": "Health files and state (default /app).",
    "bind": "Admin HTTP HOST:PORT (default 0.0.0.0:8001).",
    "advertise_port": "Port registered with the master (default: the bind port).",
    "master_url": "Master URL to register with (empty: do not register).",
    "cluster_token_file": "0600 file with the cluster token (unset: admin API answers 503).",
    "zone": "Maintenance zone (default 'default').",
    "poll_interval": "Seconds between polls of desired.json (default 10).",
    "heartbeat_interval": "Seconds between registrations with the master (default 10).",
    "log_level": "DEBUG, INFO, WARNING or ERROR (default INFO).",
    "retention": "Previous versions kept on disk per model for rollback (default 1).",
    "disk_reserve_mb": "Free disk (MB) a download must leave untouched (default 1024).",
    "download_workers": "Parallel downloads / slices per version (default 4; more for GCS).",
    "slice_size_mb": "Objects larger than this are downloaded in slices of it (default 32).",
    "fsync": "fsync every file before a version is installed (default true).",
}


def _options(fn: Any) -> Any:
    for name in reversed(list(_FLAGS)):
        flag = "--" + name.replace("_", "-")
        env = _FLAGS[name]
        if name == "fsync":
            fn = click.option("--fsync/--no-fsync", default=None, help=f"[{env}] {_HELP[name]}")(fn)
        else:
            fn = click.option(flag, name, default=None, help=f"[{env}] {_HELP[name]}")(fn)
    return fn


def register(cli: click.Group) -> None:
    """Add ``modelfleet puller run`` to the ``modelfleet`` group."""

    @cli.group("puller")
    def puller() -> None:
        """remote_model_puller: keep the local model directory in step with the bucket."""

    @puller.command("run")
    @_options
    def run(**flags: Any) -> None:
        """Run the puller and its admin API (/healthz /readyz /metrics /api/v1) under gunicorn."""
        from ..logsetup import configure_logging
        from ..puller.settings import SERVICE, PullerSettings

        overrides = {_FLAGS[k]: v for k, v in flags.items()}
        settings = build_settings(PullerSettings.from_env, overrides=overrides)
        configure_logging(SERVICE, settings.log_level)
        serve(settings)

    @puller.command("check-config")
    @_options
    def check_config(**flags: Any) -> None:
        """Validate the settings and print them (tokens hidden); exit 2 if any is wrong."""
        import dataclasses
        import json

        from ..puller.settings import PullerSettings

        overrides = {_FLAGS[k]: v for k, v in flags.items()}
        settings = build_settings(PullerSettings.from_env, overrides=overrides)
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
        from ..puller.daemon import PullerDaemon

        return PullerDaemon(settings)

    serve_node(make_daemon, settings.bind, settings.cluster_token)
