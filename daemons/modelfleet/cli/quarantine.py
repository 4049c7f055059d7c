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

from typing import Any
from urllib.parse import quote

import click

from ..names import InvalidName, parse_version, validate_model_name
from .common import die
from .operator import EXIT_FAILED, EXIT_USAGE, _common, _emit, _exit, _setup, _table

__all__ = ["register"]


def _names(model: str | None, version: str | None) -> tuple[str | None, int | None]:
    try:
        name = validate_model_name(model) if model is not None else None
        number = parse_version(version) if version is not None else None
    except InvalidName as exc:
        die(str(exc), EXIT_USAGE)
    return name, number


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
        click.option("--zone", help="only this maintenance zone"),
        click.option("--node", help="only this host"),
    ]

    def scoped(f: Any) -> Any:
        for option in scope:
            f = option(f)
        return _common(f)

    @quarantine.command("list")
    @click.argument("model", required=False)
    @click.argument("version", required=False)
    @scoped
    @click.pass_context
    def list_cmd(
        ctx: click.Context,
        model: str | None,
        version: str | None,
        zone: str | None,
        node: str | None,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
    ) -> None:
        """Quarantined versions on every node (of MODEL, of one VERSION)."""
        name, number = _names(model, version)
        m = _setup(ctx, master_url, token_file, as_json)
        params = {
            k: v
            for k, v in {"model": name, "version": number, "zone": zone, "node": node}.items()
            if v is not None
        }
        r = m.call("GET", "/api/v1/quarantine", params=params)

        def table(r: dict[str, Any]) -> None:
            if r["entries"]:
                _table(_rows(r["entries"]), ["model", "version", "host", "zone", "since", "error"])
            else:
                click.echo(f"nothing quarantined ({r['answered']}/{r['targets']} nodes answered)")
            _failed(r)

        _emit(ctx, r, table)
        _exit(0 if not r["failed"] else EXIT_FAILED)

    @quarantine.command("clear")
    @click.argument("model")
    @click.argument("version", required=False)
    @scoped
    @click.pass_context
    def clear_cmd(
        ctx: click.Context,
        model: str,
        version: str | None,
        zone: str | None,
        node: str | None,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
    ) -> None:
        """Clear MODEL's quarantine (one VERSION, or all): nodes try it again now."""
        name, number = _names(model, version)
        assert name is not None
        m = _setup(ctx, master_url, token_file, as_json)
        path = f"/api/v1/quarantine/{quote(name, safe='')}"
        if number is not None:
            path += f"/{number}"
        params = {k: v for k, v in {"zone": zone, "node": node}.items() if v is not None}
        r = m.call("DELETE", path, params=params)

        def table(r: dict[str, Any]) -> None:
            what = f"{name}/{number}" if number is not None else name
            hosts = sorted({e["hostname"] for e in r["cleared"]})
            click.echo(
                f"cleared {len(r['cleared'])} entr{'y' if len(r['cleared']) == 1 else 'ies'} of "
                f"{what} on {len(hosts)} node(s); {r['ok']}/{r['targets']} config managers answered"
            )
            if r["cleared"]:
                _table(_rows(r["cleared"]), ["model", "version", "host", "zone", "since", "error"])
            _failed(r)

        _emit(ctx, r, table)
        _exit(0 if not r["failed"] else EXIT_FAILED)
