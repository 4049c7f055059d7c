"""The ``run`` and ``check-config`` commands every node daemon has, built from one table.

Each node daemon's CLI module lists its flags (flag → environment variable it overrides, and
help); this module turns the table into click options and the two commands, so that the
puller and the config manager validate, print and serve their settings the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..node.server import exec_node, load_ref
from .common import build_settings

__all__ = ["NODE_FLAGS", "Flag", "NodeDaemonCli", "add_node_daemon"]


@dataclass(frozen=True)
class Flag:
    env: str
    help: str
    switch: bool = False  # --name/--no-name instead of --name VALUE


# The flags of modelfleet.settings.NodeSettings, which every node daemon has.
NODE_FLAGS: Mapping[str, Flag] = {
    "hostname": Flag("HOSTNAME", "Name the master calls this node by."),
    "local_model_directory": Flag(
        "LOCAL_MODEL_DIRECTORY", "LOCAL: where the puller installs complete, verified versions."
    ),
    "state_dir": Flag("MODELFLEET_STATE_DIR", "Health files and state (default /app)."),
    "bind": Flag(
        "MODELFLEET_BIND", "Admin HTTP HOST:PORT (default 0.0.0.0:8001 puller, :8002 config)."
    ),
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
        "MODELFLEET_POLL_INTERVAL", "Seconds between full passes of the daemon's loop (default 10)."
    ),
    "heartbeat_interval": Flag(
        "MODELFLEET_HEARTBEAT_INTERVAL",
        "Seconds between registrations with the master (default 10).",
    ),
    "log_level": Flag("MODELFLEET_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default INFO)."),
}


@dataclass(frozen=True)
class NodeDaemonCli:
    group: str  # modelfleet <group> run
    service: str  # the RUNBOOK's name, in logs and health files
    help: str
    settings: str  # "module:Class", relative to modelfleet
    daemon: str  # "module:Class", imported in the gunicorn worker only
    flags: Mapping[str, Flag]  # the daemon's own flags, next to NODE_FLAGS
    api: str  # "module:function" building the daemon's /api/v1 blueprint

    @property
    def all_flags(self) -> dict[str, Flag]:
        return {**NODE_FLAGS, **self.flags}


def _options(flags: Mapping[str, Flag]) -> Any:
    def decorate(fn: Any) -> Any:
        for name in reversed(list(flags)):
            spec = flags[name]
            text = f"[{spec.env}] {spec.help}"
            dashed = name.replace("_", "-")
            if spec.switch:
                fn = click.option(f"--{dashed}/--no-{dashed}", name, default=None, help=text)(fn)
            else:
                fn = click.option(f"--{dashed}", name, default=None, help=text)(fn)
        return fn

    return decorate


def _settings(spec: NodeDaemonCli, flags: dict[str, Any]) -> Any:
    overrides = {spec.all_flags[k].env: v for k, v in flags.items()}
    return build_settings(load_ref(spec.settings).from_env, overrides=overrides)


def add_node_daemon(cli: click.Group, spec: NodeDaemonCli) -> None:
    """Add ``modelfleet <group> run`` and ``modelfleet <group> check-config``."""

    @cli.group(spec.group, help=spec.help)
    def group() -> None:
        pass

    @group.command("run")
    @_options(spec.all_flags)
    def run(**flags: Any) -> None:
        """Run the daemon and its admin API (/healthz /readyz /metrics /api/v1) under gunicorn."""
        _settings(spec, flags)  # a bad flag or setting: one line and exit 2, from here
        overrides = {spec.all_flags[k].env: v for k, v in flags.items()}
        exec_node(spec.service, spec.settings, spec.daemon, spec.api, overrides)

    @group.command("check-config")
    @_options(spec.all_flags)
    def check_config(**flags: Any) -> None:
        """Validate the settings and print them (tokens hidden); exit 2 if any is wrong."""
        import dataclasses
        import json

        settings = _settings(spec, flags)
        shown = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(settings).items()
        }
        shown["cluster_token"] = "[set]" if settings.cluster_token else None
        click.echo(json.dumps(shown, indent=2))
