"""Operator commands that read the fleet through the master: status, nodes, models, triage,
audit (sync, reload, drain-check and maintenance are in :mod:`.fleetops`).

Tables by default, ``--json`` for scripts; connection and exit codes in :mod:`.client`.
``triage``: 0 healthy, 10 not an outage, 11 tfserving down on one node, 12 on many nodes.
Desired-state edits (promote, rollback, pin, label, retire, delete-version) are in
:mod:`.edits`.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from .client import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    common_options,
    connect,
    emit,
    segment,
    setup,
    table,
)
from .params import MODEL, ZONE

__all__ = ["register"]


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""

    @cli.command("status")
    @common_options
    @click.option("--zone", type=ZONE, help="only this zone")
    @click.pass_context
    def status(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        zone: str | None,
    ) -> None:
        """Live cluster status; exit 1 unless every host is healthy."""
        m = setup(ctx, master_url, token_file, as_json)
        params = {"zone": zone} if zone else {}
        s = m.call("GET", "/api/v1/cluster/status", params=params)

        def show(s: dict[str, Any]) -> None:
            x = s["summary"]
            click.echo(f"triage: {s['triage']['verdict']} — {s['triage']['summary']}")
            click.echo(
                f"hosts {x['hosts']}: healthy {x['healthy']}, degraded {x['degraded']}, "
                f"down {x['down']}, stale {x['stale']}, maintenance {x['maintenance']}"
            )
            rows = []
            for h in s["hosts"]:
                tf = {True: "up", False: "DOWN", None: "?"}[h["tfserving"]["reachable"]]
                models = "; ".join(
                    f"{m}:" + ",".join(f"{v}={st[:5]}" for v, st in info["loaded"].items())
                    for m, info in h["models"].items()
                )
                rows.append(
                    [
                        h["zone"],
                        h["hostname"],
                        h["state"] + (" (maint)" if h["maintenance"] else ""),
                        tf,
                        models,
                        "; ".join(p["message"] for p in h["problems"])[:80],
                    ]
                )
            table(rows, ["ZONE", "HOST", "STATE", "TFSERVING", "MODELS", "PROBLEMS"])
            if s["drift"]:
                click.echo(f"drift: {', '.join(s['drift'])}")

        emit(ctx, s, show)
        x = s["summary"]
        _exit(0 if x["healthy"] == x["hosts"] else EXIT_FAILED)

    @cli.command("nodes")
    @common_options
    @click.option("--zone", type=ZONE, help="only this zone")
    @click.pass_context
    def nodes(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        zone: str | None,
    ) -> None:
        """Registered node daemons (from the registry; no calls to nodes)."""
        m = setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/nodes", params={"zone": zone} if zone else {})
        emit(
            ctx,
            r,
            lambda r: table(
                [
                    [
                        n["zone"],
                        n["hostname"],
                        n["service"],
                        n["port"],
                        n["version"],
                        f"{n['heartbeat_age']:.0f}s",
                        "STALE" if n["stale"] else "ok",
                        "yes" if n["maintenance"] else "",
                    ]
                    for n in r["nodes"]
                ],
                ["ZONE", "HOST", "SERVICE", "PORT", "VERSION", "HEARTBEAT", "STATE", "MAINT"],
            ),
        )

    @cli.command("models")
    @common_options
    @click.argument("model", type=MODEL, required=False)
    @click.pass_context
    def models(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        model: str | None,
    ) -> None:
        """Models and their desired state (or one model with its bucket versions)."""
        m = setup(ctx, master_url, token_file, as_json)
        if model:
            r = m.call("GET", f"/api/v1/models/{segment(model)}")
            emit(
                ctx,
                r,
                lambda r: table(
                    [
                        [
                            v["version"],
                            "complete" if v["complete"] else "INCOMPLETE",
                            "serving" if v["version"] in r["serving"] else "",
                            ",".join(
                                k for k, x in r["desired"]["labels"].items() if x == v["version"]
                            ),
                        ]
                        for v in r["bucket_versions"]
                    ],
                    ["VERSION", "STATE", "DESIRED", "LABELS"],
                ),
            )
            return
        r = m.call("GET", "/api/v1/models")
        emit(
            ctx,
            r,
            lambda r: table(
                [
                    [
                        x["model"],
                        ",".join(map(str, x["serving"])) or "-",
                        " ".join(f"{k}={v}" for k, v in x["desired"]["labels"].items()),
                        ",".join(map(str, x["desired"]["published"])),
                        ("pinned " if x["desired"]["pinned"] else "")
                        + ("RETIRED" if x["desired"]["retired"] else ""),
                    ]
                    for x in r["models"]
                ],
                ["MODEL", "SERVING", "LABELS", "PUBLISHED", "FLAGS"],
            ),
        )

    @cli.command("triage")
    @common_options
    @click.pass_context
    def triage(
        ctx: click.Context, master_url: str | None, token_file: str | None, as_json: bool
    ) -> None:
        """Is it an outage? The RUNBOOK's decision tree on the live cluster status.

        Exit 0 healthy, 10 not an outage, 11 tfserving down on one node, 12 on many nodes,
        3 master unreachable (not an outage by itself: nodes keep serving).
        """
        ctx.obj = {"master_url": master_url, "token_file": token_file, "json": as_json}
        m = connect(ctx)
        try:
            r = m.call("GET", "/api/v1/triage", params={"fresh": "true"})
        except SystemExit as exc:
            if exc.code == EXIT_UNREACHABLE:
                click.echo(
                    "the master being down is not an outage (RUNBOOK): nodes keep "
                    "serving; check tfserving on the nodes directly",
                    err=True,
                )
            raise

        def show(r: dict[str, Any]) -> None:
            click.echo(f"{r['verdict'].upper()}: {r['summary']}")
            for a in r["actions"]:
                click.echo(f"  → {a}")

        emit(ctx, r, show)
        _exit(int(r["exit_code"]))

    @cli.command("audit")
    @common_options
    @click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
    @click.pass_context
    def audit(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        limit: int,
    ) -> None:
        """The newest entries of the master's audit log."""
        m = setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/audit", params={"limit": limit})
        emit(
            ctx,
            r,
            lambda r: table(
                [
                    [
                        e["at"],
                        e["who"],
                        e["action"],
                        e.get("target", ""),
                        # An intent ("started", written before the change) has no status yet.
                        e["status"] or e.get("result", ""),
                        e.get("error", ""),
                    ]
                    for e in r["entries"]
                ],
                ["AT", "WHO", "ACTION", "TARGET", "STATUS", "ERROR"],
            ),
        )
