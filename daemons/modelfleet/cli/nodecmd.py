"""The ``run`` and ``check-config`` commands every node daemon has, built from one table.

Each node daemon's CLI module lists its flags (flag → environment variable it overrides, and
help); this module turns the table into click options and the two commands, so that the
puller and the config manager validate, print and serve their settings the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .common import build_settings

__all__ = ["Flag", "NodeDaemonCli", "add_node_daemon"]


@dataclass(frozen=True)
class Flag:
    env: str
    help: str
    switch: bool = False  # --name/--no-name instead of --name VALUE


@dataclass(frozen=True)
class NodeDaemonCli:
    group: str  # modelfleet <group> run
    service: str  # the RUNBOOK's name, in logs and health files
    help: str
    settings: str  # "module:Class", relative to modelfleet
    daemon: str  # "module:Class", imported in the gunicorn worker only
    flags: Mapping[str, Flag]


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"modelfleet.{module}"), name)


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
    overrides = {spec.flags[k].env: v for k, v in flags.items()}
    return build_settings(_load(spec.settings).from_env, overrides=overrides)


def add_node_daemon(cli: click.Group, spec: NodeDaemonCli) -> None:
    """Add ``modelfleet <group> run`` and ``modelfleet <group> check-config``."""

    @cli.group(spec.group, help=spec.help)
    def group() -> None:
        pass

    @group.command("run")
    @_options(spec.flags)
    def run(**flags: Any) -> None:
        """Run the daemon and its admin API (/healthz /readyz /metrics /api/v1) under gunicorn."""
        from ..logsetup import configure_logging
        from ..node.server import serve_node

        settings = _settings(spec, flags)
        configure_logging(spec.service, settings.log_level)
        serve_node(lambda: _load(spec.daemon)(settings), settings.bind, settings.cluster_token)

    @group.command("check-config")
    @_options(spec.flags)
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
