"""``modelfleet puller run|check-config``: the remote_model_puller daemon under gunicorn."""

from __future__ import annotations

import click

from .nodecmd import Flag, NodeDaemonCli, add_node_daemon

__all__ = ["SPEC", "register"]

SPEC = NodeDaemonCli(
    group="puller",
    service="remote_model_puller",
    help="remote_model_puller: keep the local model directory in step with the bucket.",
    settings="puller.settings:PullerSettings",
    daemon="puller.daemon:PullerDaemon",
    flags={
        "hostname": Flag("HOSTNAME", "Name the master calls this node by."),
        "local_model_directory": Flag(
            "LOCAL_MODEL_DIRECTORY", "LOCAL: where complete versions are installed."
        ),
        "remote_model_directory": Flag(
            "REMOTE_MODEL_DIRECTORY", "gs://bucket[/prefix] or an absolute local path."
        ),
        "cloudsdk_config": Flag(
            "CLOUDSDK_CONFIG", "Directory holding application_default_credentials.json."
        ),
        "state_dir": Flag("MODELFLEET_STATE_DIR", "Health files and state (default /app)."),
        "bind": Flag("MODELFLEET_BIND", "Admin HTTP HOST:PORT (default 0.0.0.0:8001)."),
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
            "MODELFLEET_POLL_INTERVAL", "Seconds between polls of desired.json (default 10)."
        ),
        "heartbeat_interval": Flag(
            "MODELFLEET_HEARTBEAT_INTERVAL",
            "Seconds between registrations with the master (default 10).",
        ),
        "log_level": Flag("MODELFLEET_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default INFO)."),
        "retention": Flag(
            "MODELFLEET_RETENTION",
            "Previous versions kept on disk per model for rollback (default 1).",
        ),
        "disk_reserve_mb": Flag(
            "MODELFLEET_DISK_RESERVE_MB",
            "Free disk (MB) a download must leave untouched (default 1024).",
        ),
        "download_workers": Flag(
            "MODELFLEET_DOWNLOAD_WORKERS",
            "Parallel downloads / slices per version (default 4; more for GCS).",
        ),
        "slice_size_mb": Flag(
            "MODELFLEET_SLICE_SIZE_MB",
            "Objects larger than this are downloaded in slices of it (default 32).",
        ),
        "fsync": Flag(
            "MODELFLEET_FSYNC",
            "fsync every file before a version is installed (default true).",
            switch=True,
        ),
    },
)


def register(cli: click.Group) -> None:
    add_node_daemon(cli, SPEC)
