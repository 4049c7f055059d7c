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
    api="puller.api:blueprint",
    flags={
        "remote_model_directory": Flag(
            "REMOTE_MODEL_DIRECTORY", "gs://bucket[/prefix] or an absolute local path."
        ),
        "cloudsdk_config": Flag(
            "CLOUDSDK_CONFIG", "Directory holding application_default_credentials.json."
        ),
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
            "Parallel downloads / slices per version (default 16).",
        ),
        "pull_concurrency": Flag(
            "MODELFLEET_PULL_CONCURRENCY",
            "Versions of different models pulled at the same time (default 2).",
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
