"""``modelfleet quarantine list|clear``: versions that failed to load, across the fleet.

    modelfleet quarantine list [MODEL [VERSION]] [--zone Z] [--node HOST]
    modelfleet quarantine clear MODEL [VERSION] [--zone Z] [--node HOST]

``list`` shows every config manager's quarantined versions (host, version, when, the load
error); ``clear`` removes entries so the nodes try the version again at once — after the
cause was fixed (RUNBOOK, "A version is quarantined"). A version that fails again is simply
quarantined again. Exit codes as every operator command (``modelfleet --help``): 0 done,
1 some node did not answer, 2 bad input, 3 master unreachable, 4 token refused.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .client import EXIT_FAILED, common_options, emit, segment, setup, table
from .params import HOST, MODEL, VERSION, ZONE

__all__ = ["register"]


def _failed(r: dict[str, Any]) -> None:
    for key, res in sorted(r["failed"].items()):
        click.echo(f"  NOT ANSWERED {key}: {res['error']}")
    for key in r["skipped_stale"]:
        click.echo(f"  skipped (stale) {key}")


def _rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [e["model"], e["version"], e["hostname"], e["zone"], e["at"], e["error"][:70]]
        for e in entries
    ]


def register(cli: click.Group) -> None:
    @cli.group("quarantine")
    def quarantine() -> None:
        """Versions that failed to load and are not served again (list, clear)."""

    scope = [
        click.option("--zone", type=ZONE, help="only this maintenance zone"),
        click.option("--node", type=HOST, help="only this host"),
    ]

    def scoped(f: Any) -> Any:
        for option in scope:
            f = option(f)
        return common_options(f)

    @quarantine.command("list")
    @click.argument("model", type=MODEL, required=False)
    @click.argument("version", type=VERSION, required=False)
    @scoped
    @click.pass_context
    def list_cmd(
        ctx: click.Context,
        model: str | None,
        version: int | None,
        zone: str | None,
        node: str | None,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
    ) -> None:
        """Quarantined versions on every node (of MODEL, of one VERSION)."""
        m = setup(ctx, master_url, token_file, as_json)
        scope = {"model": model, "version": version, "zone": zone, "node": node}
        r = m.call(
            "GET", "/api/v1/quarantine", params={k: v for k, v in scope.items() if v is not None}
        )

        def show(r: dict[str, Any]) -> None:
            if r["entries"]:
                table(_rows(r["entries"]), ["MODEL", "VERSION", "HOST", "ZONE", "SINCE", "ERROR"])
            else:
                click.echo(f"nothing quarantined ({r['answered']}/{r['targets']} nodes answered)")
            _failed(r)

        emit(ctx, r, show)
        sys.exit(0 if not r["failed"] else EXIT_FAILED)

    @quarantine.command("clear")
    @click.argument("model", type=MODEL)
    @click.argument("version", type=VERSION, required=False)
    @scoped
    @click.pass_context
    def clear_cmd(
        ctx: click.Context,
        model: str,
        version: int | None,
        zone: str | None,
        node: str | None,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
    ) -> None:
        """Clear MODEL's quarantine (one VERSION, or all): nodes try it again now."""
        m = setup(ctx, master_url, token_file, as_json)
        path = f"/api/v1/quarantine/{segment(model)}"
        if version is not None:
            path += f"/{segment(version)}"
        params = {k: v for k, v in {"zone": zone, "node": node}.items() if v is not None}
        r = m.call("DELETE", path, params=params)

        def show(r: dict[str, Any]) -> None:
            what = f"{model}/{version}" if version is not None else model
            hosts = sorted({e["hostname"] for e in r["cleared"]})
            click.echo(
                f"cleared {len(r['cleared'])} entr{'y' if len(r['cleared']) == 1 else 'ies'} of "
                f"{what} on {len(hosts)} node(s); {r['ok']}/{r['targets']} config managers answered"
            )
            if r["cleared"]:
                table(_rows(r["cleared"]), ["MODEL", "VERSION", "HOST", "ZONE", "SINCE", "ERROR"])
            _failed(r)

        emit(ctx, r, show)
        sys.exit(0 if not r["failed"] else EXIT_FAILED)
