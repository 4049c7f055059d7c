"""``modelfleet localfleet up|down|status|demo``: a whole fleet on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import die

__all__ = ["register"]

_ROOT = click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".localfleet"),
    show_default=True,
    help="Where the fleet keeps its bucket, nodes, tokens, logs and pids.",
)


def register(cli: click.Group) -> None:
    @cli.group("localfleet")
    def localfleet() -> None:
        """A master and N nodes on 127.0.1.x with the RUNBOOK's ports (dev TF Serving)."""

    @localfleet.command("up")
    @_ROOT
    @click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 200))
    @click.option("--zones", default=2, show_default=True, type=click.IntRange(1, 5))
    @click.option(
        "--master-port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Default 80 as root (RUNBOOK), else 8080.",
    )
    @click.option("--poll-interval", default=10.0, show_default=True, type=float)
    def up(
        root: Path, nodes: int, zones: int, master_port: int | None, poll_interval: float
    ) -> None:
        """Start the fleet in the background and wait until every service listens."""
        from ..localfleet.fleet import Fleet, FleetError, FleetSpec

        spec = FleetSpec.default(
            root, nodes, zones, master_port=master_port, poll_interval=poll_interval
        )
        fleet = Fleet(spec)
        try:
            fleet.up()
            fleet.wait_ports()
        except FleetError as exc:
            fleet.down()
            die(str(exc), 1)
        click.echo(
            f"local fleet up: master {spec.master_url}, {nodes} nodes; "
            f"`modelfleet localfleet down --dir {root}` stops it"
        )
        for key, value in fleet.operator_env().items():
            click.echo(f"export {key}={value}")

    @localfleet.command("down")
    @_ROOT
    def down(root: Path) -> None:
        """Stop every process of the fleet."""
        from ..localfleet.fleet import Fleet, FleetError

        try:
            Fleet.load(root).down()
        except FleetError as exc:
            die(str(exc), 1)
        click.echo("local fleet stopped")

    @localfleet.command("status")
    @_ROOT
    @click.option("--json", "as_json", is_flag=True)
    def status(root: Path, as_json: bool) -> None:
        """Which processes of the fleet are alive (exit 1 if any is not)."""
        from ..localfleet.fleet import Fleet, FleetError

        try:
            rows = Fleet.load(root).status()
        except FleetError as exc:
            die(str(exc), 1)
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                state = "up" if row["alive"] else "DOWN"
                click.echo(f"{row['node']:<8} {row['role']:<20} pid {row['pid']:<8} {state}")
        raise SystemExit(0 if rows and all(r["alive"] for r in rows) else 1)

    @localfleet.command("demo")
    @_ROOT
    @click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 50))
    @click.option("--gcs-emulator", is_flag=True, help="Use the GCS emulator as the bucket.")
    @click.option("--once", is_flag=True, help="Run the script, stop the fleet, exit 0.")
    @click.option("--master-port", type=click.IntRange(1, 65535), default=None)
    @click.option(
        "--timeout",
        default=180.0,
        show_default=True,
        type=float,
        help="Deadline of each wait, in seconds.",
    )
    def demo(
        root: Path,
        nodes: int,
        gcs_emulator: bool,
        once: bool,
        master_port: int | None,
        timeout: float,
    ) -> None:
        """Start a fleet, publish a SavedModel, predict, promote v2 and time it."""
        from ..localfleet.demo import DemoOptions, run_demo
        from ..localfleet.fleet import FleetError

        opts = DemoOptions(
            root=root,
            nodes=nodes,
            gcs_emulator=gcs_emulator,
            once=once,
            master_port=master_port,
            timeout=timeout,
        )
        try:
            code = run_demo(opts, say=lambda line: click.echo(line))
        except FleetError as exc:
            die(str(exc), 1)
        raise SystemExit(code)
