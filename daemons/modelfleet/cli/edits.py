"""Desired-state edits: promote, rollback, pin, label, retire, delete-version.

Normally through the master (which writes the bucket under the generation precondition,
audits, and wakes every puller at once). With ``--direct`` — the break-glass path when the
master is down — the same :class:`~modelfleet.desired.Edit` is applied straight to the
bucket by :func:`~modelfleet.desired.edit_remote`, under the same precondition: the bucket
is the source of truth and pullers pick the change up at their next poll. Every name and
version is validated as it is parsed (:mod:`.params`), before any request.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

import click

from ..contracts.master_api import EditReply, ModelView
from ..contracts.schema import to_json
from .client import EXIT_FAILED, EXIT_UNREACHABLE, common_options, emit, segment, setup
from .common import die
from .params import LABEL, MODEL, VERSION

__all__ = ["register"]


def _show(r: dict[str, Any]) -> None:
    e = r["entry"]["desired"]
    click.echo(
        f"{r['model']}: {r['op']} ok (generation {r['generation']}); serving "
        f"{r['entry']['serving'] or 'nothing'}, labels {e['labels'] or '{}'}"
        f"{', pinned' if e['pinned'] else ''}{', RETIRED' if e['retired'] else ''}"
    )
    if not r["changed"]:
        click.echo("nothing changed: the desired state already was that")
    elif r.get("sync") is None:
        click.echo("written to the bucket directly: pullers pick it up at their next poll")
    else:
        s = r["sync"]
        click.echo(
            f"sync now: {s['ok']}/{s['targets']} pullers woken"
            + (f", failed: {', '.join(s['failed'])}" if s["failed"] else "")
        )


def _direct(remote: str, edit: Any, if_generation: int | None) -> dict[str, Any]:
    """Apply ``edit`` to the bucket itself (master down); exits with the CLI's codes."""
    from .. import desired as ds
    from ..store import PreconditionFailed, StoreError, open_store

    if not remote:
        die("--direct needs the bucket: --remote or REMOTE_MODEL_DIRECTORY")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    try:
        store = open_store(remote, cloudsdk_config=os.environ.get("CLOUDSDK_CONFIG") or None)
        result = ds.edit_remote(
            store, edit, updated_by=f"{user}@cli-direct", if_generation=if_generation
        )
    except ds.EditError as exc:
        die(str(exc), EXIT_FAILED)
    except PreconditionFailed:
        die(
            "desired state changed while this edit was applied (lost race): nothing changed; "
            "re-run the command",
            EXIT_FAILED,
        )
    except ds.InvalidDesired as exc:
        die(f"desired state in the bucket is unusable: {exc}", EXIT_FAILED)
    except (StoreError, OSError) as exc:
        die(f"bucket {remote} failed: {exc}", EXIT_UNREACHABLE)
    entry = result.state.entry(edit.model) or ds.ModelEntry()
    reply = EditReply(
        model=edit.model,
        op=edit.op,
        generation=result.generation,
        changed=result.changed,
        entry=ModelView(edit.model, entry, ds.served_versions(entry)),
        adopted=result.adopted,
    )
    data: dict[str, Any] = to_json(reply)
    return data


_GEN = click.option(
    "--if-generation",
    type=click.IntRange(min=0),
    help="fail unless desired.json is at this generation",
)
_DIRECT = click.option(
    "--direct",
    is_flag=True,
    help="master down: apply the edit to the bucket itself (generation-checked)",
)
_REMOTE = click.option(
    "--remote",
    default=lambda: os.environ.get("REMOTE_MODEL_DIRECTORY", ""),
    show_default="$REMOTE_MODEL_DIRECTORY",
    help="the bucket for --direct: gs://bucket[/prefix] or an absolute path",
)


def register(cli: click.Group) -> None:
    """Add the edit commands to the ``modelfleet`` group."""

    def edit_command(name: str, help_text: str, path: str, params: list[Any], build: Any) -> None:
        """One command: ``build(model, **options)`` → (Edit, API body)."""

        @click.pass_context
        def command(
            ctx: click.Context,
            master_url: str | None,
            token_file: str | None,
            as_json: bool,
            direct: bool,
            remote: str,
            if_generation: int | None,
            model: str,
            **kw: Any,
        ) -> None:
            edit, body = build(model, **kw)
            if direct:
                ctx.obj = {"json": as_json}
                emit(ctx, _direct(remote, edit, if_generation), _show)
                return
            if if_generation is not None:
                body["if_generation"] = if_generation
            m = setup(ctx, master_url, token_file, as_json)
            emit(ctx, m.call("POST", f"/api/v1/models/{segment(model)}/{path}", json=body), _show)

        command.__doc__ = help_text
        for p in reversed([click.argument("model", type=MODEL), *params, _GEN, _DIRECT, _REMOTE]):
            command = p(command)
        cli.command(name)(common_options(command))

    from ..desired import Edit

    edit_command(
        "promote",
        "Serve exactly VERSION of MODEL, labelled stable; then sync now.",
        "promote",
        [click.argument("version", type=VERSION)],
        lambda model, version: (Edit("promote", model, version), {"version": version}),
    )
    edit_command(
        "rollback",
        "Serve MODEL's previous serving set again; then sync now.",
        "rollback",
        [],
        lambda model: (Edit("rollback", model), {}),
    )

    def pin(model: str, version: int | None, unpin: bool) -> tuple[Any, dict[str, Any]]:
        if unpin:
            if version is not None:
                die("--unpin takes no VERSION")
            return Edit("unpin", model), {"pinned": False}
        body: dict[str, Any] = {"pinned": True}
        if version is not None:
            body["version"] = version
        return Edit("pin", model, version), body

    edit_command(
        "pin",
        "Pin MODEL (to VERSION if given) so newer versions are not followed.",
        "pin",
        [
            click.argument("version", type=VERSION, required=False),
            click.option("--unpin", is_flag=True, help="remove the pin"),
        ],
        pin,
    )

    def label(
        model: str, label: str, version: int | None, remove: bool
    ) -> tuple[Any, dict[str, Any]]:
        if remove == (version is not None):
            die("give VERSION, or --remove to drop the label")
        if remove:
            return Edit("unlabel", model, label=label), {"label": label, "version": None}
        return Edit("label", model, version, label=label), {"label": label, "version": version}

    edit_command(
        "label",
        "Point LABEL (stable, canary…) of MODEL at VERSION; --remove drops it.",
        "labels",
        [
            click.argument("label", type=LABEL),
            click.argument("version", type=VERSION, required=False),
            click.option("--remove", is_flag=True, help="remove the label"),
        ],
        label,
    )
    edit_command(
        "retire",
        "Retire MODEL everywhere (--undo to serve it again).",
        "retire",
        [click.option("--undo", is_flag=True, help="un-retire")],
        lambda model, undo: (
            Edit("unretire" if undo else "retire", model),
            {"retired": not undo},
        ),
    )

    @cli.command("delete-version")
    @common_options
    @click.argument("model", type=MODEL)
    @click.argument("version", type=VERSION)
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
        m = setup(ctx, master_url, token_file, as_json)
        r = m.call("DELETE", f"/api/v1/models/{segment(model)}/versions/{segment(version)}")
        emit(
            ctx,
            r,
            lambda r: click.echo(
                f"deleted {model}/{version}: {r.get('deleted_objects', 0)} objects"
            ),
        )
