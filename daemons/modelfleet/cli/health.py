"""``modelfleet healthcheck SERVICE``: the heartbeat check behind systemd and monitoring."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

__all__ = ["register"]


def register(cli: click.Group) -> None:
    @cli.command("healthcheck")
    @click.argument("service")
    @click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("MODELFLEET_STATE_DIR", "/app"),
        show_default="$MODELFLEET_STATE_DIR or /app",
        help="The daemon's state dir (the RUNBOOK's /app).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
    def healthcheck(service: str, state_dir: Path, as_json: bool) -> None:
        """Exit 0 if SERVICE's loops beat recently and report no failure, else 1."""
        from ..node.health import check_health

        verdict = check_health(state_dir, service)
        if as_json:
            click.echo(
                json.dumps(
                    {"service": service, "healthy": verdict.healthy, "reason": verdict.reason}
                )
            )
        else:
            click.echo(
                f"{service}: {'healthy' if verdict.healthy else 'UNHEALTHY'} ({verdict.reason})"
            )
        raise SystemExit(0 if verdict.healthy else 1)
