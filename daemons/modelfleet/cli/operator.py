"""Operator commands: talk to the master's API (tables by default, ``--json`` for scripts).

Master URL and token: ``--master-url`` / ``--token-file`` flags, else env
``MODELFLEET_MASTER_URL`` and ``MODELFLEET_TOKEN_FILE`` (or ``MODELFLEET_TOKEN``), else the
config file ``$MODELFLEET_CONFIG`` or ``~/.config/modelfleet/cli.json``
(``{"master_url": "...", "token_file": "..."}``).

Exit codes: 0 success / healthy / allowed; 1 the operation failed, the answer is negative
(drain refused, cluster unhealthy) or a conflict (409: re-read and retry); 2 bad usage,
settings or input (400); 3 master unreachable or answered 5xx; 4 token refused (401/403).
``triage``: 0 healthy, 10 not an outage, 11 tfserving down on one node, 12 on many nodes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .common import die

__all__ = ["register"]

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH = 1, 2, 3, 4


class Master:
    """A small client of the master API; every failure exits with a meaningful code."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        import requests

        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        with contextlib.suppress(KeyError, OSError):
            self.session.headers["X-Modelfleet-User"] = getpass.getuser()
        self.timeout = timeout

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        import requests

        try:
            resp = self.session.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            die(f"master {self.url} unreachable: {type(exc).__name__}", EXIT_UNREACHABLE)
        try:
            body = resp.json()
        except ValueError:
            body = {"error": resp.text[:200]}
        if resp.status_code in ok:
            return body
        message = body.get("error", "") if isinstance(body, dict) else str(body)
        if resp.status_code in (401, 403):
            die(f"master refused the token ({resp.status_code}): {message}", EXIT_AUTH)
        if resp.status_code == 400:
            die(message, EXIT_USAGE)
        if resp.status_code >= 500:
            die(f"master answered {resp.status_code}: {message}", EXIT_UNREACHABLE)
        if resp.status_code == 404:
            die(message, EXIT_FAILED)
        die(f"{message} ({resp.status_code})", EXIT_FAILED)


def _config_file() -> dict[str, Any]:
    path = Path(os.environ.get("MODELFLEET_CONFIG") or Path.home() / ".config/modelfleet/cli.json")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        die(f"config file {path}: {exc}")
    if not isinstance(data, dict):
        die(f"config file {path} must hold a JSON object")
    return data


def connect(ctx: click.Context) -> Master:
    from ..tokens import TokenError, read_token_file

    opts = ctx.obj or {}
    conf = _config_file()
    url = (
        opts.get("master_url") or os.environ.get("MODELFLEET_MASTER_URL") or conf.get("master_url")
    )
    if not url:
        die("no master URL: use --master-url, MODELFLEET_MASTER_URL or the config file")
    if not str(url).startswith(("http://", "https://")):
        die(f"master URL {url!r} must start with http:// or https://")
    token_file = (
        opts.get("token_file") or os.environ.get("MODELFLEET_TOKEN_FILE") or conf.get("token_file")
    )
    token = os.environ.get("MODELFLEET_TOKEN") if not token_file else None
    if token_file:
        try:
            token = read_token_file(token_file)
        except TokenError as exc:
            die(str(exc))
    if not token:
        die(
            "no token: use --token-file, MODELFLEET_TOKEN_FILE, MODELFLEET_TOKEN or the config file"
        )
    return Master(str(url), token)


def _emit(ctx: click.Context, data: Any, table: Any) -> None:
    if (ctx.obj or {}).get("json"):
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        table(data)


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [headers] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def _common(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")(f)
    f = click.option("--token-file", help="operator token file [env MODELFLEET_TOKEN_FILE]")(f)
    f = click.option("--master-url", help="e.g. http://master [env MODELFLEET_MASTER_URL]")(f)
    return f


def _setup(
    ctx: click.Context, master_url: str | None, token_file: str | None, as_json: bool
) -> Master:
    ctx.obj = {"master_url": master_url, "token_file": token_file, "json": as_json}
    return connect(ctx)


def _edit_result(ctx: click.Context, r: dict[str, Any]) -> None:
    def table(r: dict[str, Any]) -> None:
        e = r["entry"]["desired"]
        click.echo(
            f"{r['model']}: {r['op']} ok (generation {r['generation']}); serving "
            f"{r['entry']['serving'] or 'nothing'}, labels {e['labels'] or '{}'}"
            f"{', pinned' if e['pinned'] else ''}{', RETIRED' if e['retired'] else ''}"
        )
        s = r.get("sync")
        if s is None:
            click.echo("nothing changed: the desired state already was that")
            return
        click.echo(
            f"sync now: {s['ok']}/{s['targets']} pullers woken"
            + (f", failed: {', '.join(s['failed'])}" if s["failed"] else "")
        )

    _emit(ctx, r, table)


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""

    @cli.command("status")
    @_common
    @click.option("--zone", help="only this zone")
    @click.pass_context
    def status(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        zone: str | None,
    ) -> None:
        """Live cluster status; exit 1 unless every host is healthy."""
        m = _setup(ctx, master_url, token_file, as_json)
        params = {"zone": zone} if zone else {}
        s = m.call("GET", "/api/v1/cluster/status", params=params)

        def table(s: dict[str, Any]) -> None:
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
            _table(rows, ["ZONE", "HOST", "STATE", "TFSERVING", "MODELS", "PROBLEMS"])
            if s["drift"]:
                click.echo(f"drift: {', '.join(s['drift'])}")

        _emit(ctx, s, table)
        x = s["summary"]
        _exit(0 if x["healthy"] == x["hosts"] else EXIT_FAILED)

    @cli.command("nodes")
    @_common
    @click.option("--zone", help="only this zone")
    @click.pass_context
    def nodes(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        zone: str | None,
    ) -> None:
        """Registered node daemons (from the registry; no calls to nodes)."""
        m = _setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/nodes", params={"zone": zone} if zone else {})
        _emit(
            ctx,
            r,
            lambda r: _table(
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
    @_common
    @click.argument("model", required=False)
    @click.pass_context
    def models(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        model: str | None,
    ) -> None:
        """Models and their desired state (or one model with its bucket versions)."""
        m = _setup(ctx, master_url, token_file, as_json)
        if model:
            r = m.call("GET", f"/api/v1/models/{model}")
            _emit(
                ctx,
                r,
                lambda r: _table(
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
        _emit(
            ctx,
            r,
            lambda r: _table(
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

    def edit(name: str, help_text: str, path: str, build: Any, params: list[Any]) -> None:
        @click.pass_context
        def command(
            ctx: click.Context,
            master_url: str | None,
            token_file: str | None,
            as_json: bool,
            **kw: Any,
        ) -> None:
            m = _setup(ctx, master_url, token_file, as_json)
            model = kw.pop("model")
            body = build(**kw)
            _edit_result(ctx, m.call("POST", f"/api/v1/models/{model}/{path}", json=body))

        command.__doc__ = help_text
        for p in reversed(params):
            command = p(command)
        cli.command(name)(_common(command))

    gen = click.option(
        "--if-generation", type=int, help="fail unless desired.json is at this generation"
    )
    model_arg = click.argument("model")

    def _g(body: dict[str, Any], if_generation: int | None) -> dict[str, Any]:
        return {**body, **({"if_generation": if_generation} if if_generation is not None else {})}

    edit(
        "promote",
        "Serve exactly VERSION of MODEL, labelled stable; then sync now.",
        "promote",
        lambda version, if_generation: _g({"version": version}, if_generation),
        [model_arg, click.argument("version", type=int), gen],
    )
    edit(
        "rollback",
        "Serve MODEL's previous serving set again; then sync now.",
        "rollback",
        lambda if_generation: _g({}, if_generation),
        [model_arg, gen],
    )
    edit(
        "pin",
        "Pin MODEL (to VERSION if given) so newer versions are not followed.",
        "pin",
        lambda version, unpin, if_generation: _g(
            {"pinned": not unpin, **({"version": version} if version else {})}, if_generation
        ),
        [
            model_arg,
            click.argument("version", type=int, required=False),
            click.option("--unpin", is_flag=True, help="remove the pin"),
            gen,
        ],
    )
    edit(
        "label",
        "Point LABEL (stable, canary…) of MODEL at VERSION; --remove drops it.",
        "labels",
        lambda label, version, remove, if_generation: _g(
            {"label": label, "version": None if remove else version}, if_generation
        ),
        [
            model_arg,
            click.argument("label"),
            click.argument("version", type=int, required=False),
            click.option("--remove", is_flag=True, help="remove the label"),
            gen,
        ],
    )
    edit(
        "retire",
        "Retire MODEL everywhere (--undo to serve it again).",
        "retire",
        lambda undo, if_generation: _g({"retired": not undo}, if_generation),
        [model_arg, click.option("--undo", is_flag=True, help="un-retire"), gen],
    )

    @cli.command("delete-version")
    @_common
    @click.argument("model")
    @click.argument("version", type=int)
    @click.pass_context
    def delete_version(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        model: str,
        version: int,
    ) -> None:
        """Delete VERSION of MODEL from the bucket (refused while any node serves it)."""
        m = _setup(ctx, master_url, token_file, as_json)
        r = m.call("DELETE", f"/api/v1/models/{model}/versions/{version}")
        _emit(
            ctx,
            r,
            lambda r: click.echo(
                f"deleted {model}/{version}: {r.get('deleted_objects', 0)} objects"
            ),
        )

    def fan(name: str, help_text: str) -> None:
        @click.option("--zone", help="only this zone")
        @click.option("--node", help="only this host")
        @click.pass_context
        def command(
            ctx: click.Context,
            master_url: str | None,
            token_file: str | None,
            as_json: bool,
            zone: str | None,
            node: str | None,
        ) -> None:
            m = _setup(ctx, master_url, token_file, as_json)
            body = {k: v for k, v in {"zone": zone, "node": node}.items() if v}
            r = m.call("POST", f"/api/v1/cluster/{name}", json=body)

            def table(r: dict[str, Any]) -> None:
                click.echo(f"{name}: {r['ok']}/{r['targets']} ok")
                for key, res in r["failed"].items():
                    click.echo(f"  FAILED {key}: {res['error']}")
                for key in r["skipped_stale"]:
                    click.echo(f"  skipped (stale) {key}")

            _emit(ctx, r, table)
            _exit(0 if not r["failed"] else EXIT_FAILED)

        command.__doc__ = help_text
        cli.command(name)(_common(command))

    fan("sync", "Wake pullers to sync now (all, a zone or a node); exit 1 if any failed.")
    fan("reload", "Ask config managers to reload TF Serving (all, a zone or a node).")

    @cli.command("drain-check")
    @_common
    @click.argument("zone")
    @click.option("--min-share", type=float, help="required share of capacity (default: master's)")
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
        m = _setup(ctx, master_url, token_file, as_json)
        params: dict[str, Any] = {"zone": zone}
        if min_share is not None:
            params["min_share"] = min_share
        r = m.call("GET", "/api/v1/drain-check", params=params)

        def table(r: dict[str, Any]) -> None:
            click.echo(f"drain {zone}: {'ALLOWED' if r['allowed'] else 'REFUSED'}")
            for reason in r["reasons"]:
                click.echo(f"  - {reason}")

        _emit(ctx, r, table)
        _exit(0 if r["allowed"] else EXIT_FAILED)

    @cli.command("triage")
    @_common
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

        def table(r: dict[str, Any]) -> None:
            click.echo(f"{r['verdict'].upper()}: {r['summary']}")
            for a in r["actions"]:
                click.echo(f"  → {a}")

        _emit(ctx, r, table)
        _exit(int(r["exit_code"]))

    @cli.group("maintenance")
    def maintenance() -> None:
        """Maintenance flags of zones and nodes (show / set / clear)."""

    @maintenance.command("show")
    @_common
    @click.pass_context
    def m_show(
        ctx: click.Context, master_url: str | None, token_file: str | None, as_json: bool
    ) -> None:
        """Zones and nodes in maintenance."""
        m = _setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/maintenance")
        _emit(
            ctx,
            r,
            lambda r: _table(
                [
                    [kind[:-1], name, v.get("by", ""), v.get("reason", "")]
                    for kind in ("zones", "nodes")
                    for name, v in r[kind].items()
                ],
                ["KIND", "NAME", "BY", "REASON"],
            ),
        )

    def m_cmd(name: str, enabled: bool) -> None:
        @click.option("--zone", help="a zone")
        @click.option("--node", help="a host")
        @click.option("--reason", default="", help="why (recorded)")
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
            m = _setup(ctx, master_url, token_file, as_json)
            body = {"zone": zone} if zone else {"node": node}
            r = m.call(
                "POST", "/api/v1/maintenance", json={**body, "enabled": enabled, "reason": reason}
            )
            _emit(
                ctx,
                r,
                lambda r: click.echo(
                    f"maintenance {'set' if enabled else 'cleared'} for {zone or node}"
                    f"{'' if r['changed'] else ' (no change)'}"
                ),
            )

        command.__doc__ = f"{'Set' if enabled else 'Clear'} maintenance of a zone or node."
        maintenance.command(name)(_common(command))

    m_cmd("set", True)
    m_cmd("clear", False)

    @cli.command("audit")
    @_common
    @click.option("--limit", type=int, default=50, show_default=True)
    @click.pass_context
    def audit(
        ctx: click.Context,
        master_url: str | None,
        token_file: str | None,
        as_json: bool,
        limit: int,
    ) -> None:
        """The newest entries of the master's audit log."""
        m = _setup(ctx, master_url, token_file, as_json)
        r = m.call("GET", "/api/v1/audit", params={"limit": limit})
        _emit(
            ctx,
            r,
            lambda r: _table(
                [
                    [
                        e["at"],
                        e["who"],
                        e["action"],
                        e.get("target", ""),
                        e["status"],
                        e.get("error", ""),
                    ]
                    for e in r["entries"]
                ],
                ["AT", "WHO", "ACTION", "TARGET", "STATUS", "ERROR"],
            ),
        )
