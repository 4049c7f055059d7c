"""Operator commands that act on nodes through the master: sync, reload, drain-check and
maintenance flags (the drain playbook's guard and switch, for people).

Connection, ``--json`` and exit codes: :mod:`.client`; names are validated as parsed
(:mod:`.params`).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from .client import EXIT_FAILED, common_options, emit, setup, table
from .common import die
from .params import HOST, ZONE

__all__ = ["register"]


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""

    def fan(name: str, help_text: str) -> None:
        @click.option("--zone", type=ZONE, help="only this zone")
        @click.option("--node", type=HOST, help="only this host")
        @click.pass_context
        def command(
            ctx: click.Context,
            master_url: str | None,
            token_file: str | None,
            as_json: bool,
            zone: str | None,
            node: str | None,
        ) -> None:
            m = setup(ctx, master_url, token_file, as_json)
            body = {k: v for k, v in {"zone": zone, "node": node}.items() if v}
            r = m.call("POST", f"/api/v1/cluster/{name}", json=body)

            def show(r: dict[str, Any]) -> None:
                click.echo(f"{name}: {r['ok']}/{r['targets']} ok")
                for key, res in r["failed"].items():
                    click.echo(f"  FAILED {key}: {res['error']}")
                for key in r["skipped_stale"]:
                    click.echo(f"  skipped (stale) {key}")

            emit(ctx, r, show)
            _exit(0 if not r["failed"] else EXIT_FAILED)

        command.__doc__ = help_text
        cli.command(name)(common_options(command))

    fan("sync", "Wake pullers to sync now (all, a zone or a node); exit 1 if any failed.")
    fan("reload", "Ask config managers to reload TF Serving (all, a zone or a node).")

    @cli.command("drain-check")
    @common_options
    @click.argument("zone", type=ZONE)
    @click.option(
        "--min-share",
        type=click.FloatRange(0, 1),
        help="required share of capacity (default: master's)",
    )
    @click.pass_context
    def drain_check(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        zone: str,
        min_share: float | None,
    ) -> None:
        """May ZONE be drained? Exit 0 yes, 1 no (the answer says why)."""
        m = setup(ctx, master_url, token_file, as_json)
        params: dict[str, Any] = {"zone": zone}
        if min_share is not None:
            params["min_share"] = min_share
        r = m.call("GET", "/api/v1/drain-check", params=params)

        def show(r: dict[str, Any]) -> None:
            click.echo(f"drain {zone}: {'ALLOWED' if r['allowed'] else 'REFUSED'}")
            for reason in r["reasons"]:
                click.echo(f"  - {reason}")

        emit(ctx, r, show)
        _exit(0 if r["allowed"] else EXIT_FAILED)

    @cli.group("maintenance")
    def maintenance() -> None:
        """Maintenance flags of zones and nodes (show / set / clear)."""

    @maintenance.command("show")
    @common_options
    @click.pass_context
    def m_show(
        ctx: click.Context, master_url: str | None, token_file: str | None, as_json: bool
    ) -> None:
        """Zones and nodes in maintenance."""
        m = setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/maintenance")
        emit(
            ctx,
            r,
            lambda r: table(
                [
                    [kind[:-1], name, v.get("by", ""), v.get("reason", "")]
                    for kind in ("zones", "nodes")
                    for name, v in r[kind].items()
                ],
                ["KIND", "NAME", "BY", "REASON"],
            ),
        )

    def m_cmd(name: str, enabled: bool) -> None:
        @click.option("--zone", type=ZONE, help="a zone")
        @click.option("--node", type=HOST, help="a host")
        @click.option("--reason", default="", help="why (recorded, one line)")
        @click.pass_context
        def command(
            ctx: click.Context,
            master_url: str | None,
            token_file: str | None,
            as_json: bool,
            zone: str | None,
            node: str | None,
            reason: str,
        ) -> None:
            if bool(zone) == bool(node):
                die("give exactly one of --zone or --node")
            if len(reason) > 500 or not reason.isprintable():
                die("--reason must be one line of at most 500 characters")
            m = setup(ctx, master_url, token_file, as_json)
            body = {"zone": zone} if zone else {"node": node}
            r = m.call(
                "POST", "/api/v1/maintenance", json={**body, "enabled": enabled, "reason": reason}
            )
            emit(
                ctx,
                r,
                lambda r: click.echo(
                    f"maintenance {'set' if enabled else 'cleared'} for {zone or node}"
                    f"{'' if r['changed'] else ' (no change)'}"
                ),
            )

        command.__doc__ = f"{'Set' if enabled else 'Clear'} maintenance of a zone or node."
        maintenance.command(name)(common_options(command))

    m_cmd("set", True)
    m_cmd("clear", False)
