"""Blueprint: remote model state — models, versions, manifests, desired state and its edits.

Every edit is one :class:`~modelfleet.desired.Edit` applied by
:meth:`RemoteState.edit <.remote.RemoteState.edit>`: read ``_modelfleet/desired.json`` with
its generation, apply the pure edit, write once with ``if_generation_match``. A concurrent
writer makes the loser fail with 409 and nothing changes; an unknown model is 404 and
creates nothing. A change is followed by a fan-out of "sync now" to every puller so it lands
in seconds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, g

from ..contracts.master_api import (
    BucketVersion,
    DesiredReply,
    EditReply,
    LabelBody,
    ManifestView,
    ModelDetail,
    ModelList,
    ModelView,
    PinBody,
    PromoteBody,
    RetireBody,
    RollbackBody,
    SyncSummary,
)
from ..contracts.schema import from_json
from ..desired import Edit, EditError, ModelEntry, RemoteDesired, served_versions
from .api import (
    ApiError,
    audited,
    model_arg,
    parse_body,
    reply,
    services,
    version_path_arg,
)
from .auditing import begin_change
from .auth import require
from .remote import MANIFEST_NAME, NotFound, PreconditionFailed, StoreError

bp = Blueprint("models", __name__)


def _read_remote() -> RemoteDesired:
    try:
        return services().remote.read_remote()
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot read desired state: {exc}") from None


def _view(model: str, entry: ModelEntry | None) -> ModelView:
    entry = entry or ModelEntry()
    return ModelView(model=model, desired=entry, serving=served_versions(entry))


@bp.get("/models")
@require("read")
def list_models() -> Any:
    remote = _read_remote()
    state = remote.state_or_empty
    try:
        names = set(services().remote.list_models())
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot list the bucket: {exc}") from None
    names.update(state.models)
    models = tuple(_view(m, state.entry(m)) for m in sorted(names))
    return reply(ModelList(models=models, generation=remote.generation))


@bp.get("/models/<model>")
@require("read")
def model_detail(model: str) -> Any:
    model_arg(model)
    remote = _read_remote()
    entry = remote.state_or_empty.entry(model)
    try:
        versions = services().remote.list_versions(model)
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot list {model}: {exc}") from None
    if not versions and entry is None:
        raise ApiError(404, f"no model {model!r} in the bucket")
    view = _view(model, entry)
    return reply(
        ModelDetail(
            model=model,
            desired=view.desired,
            serving=view.serving,
            generation=remote.generation,
            bucket_versions=tuple(BucketVersion(v, c) for v, c in versions.items()),
        )
    )


@bp.get("/models/<model>/versions/<version>/manifest")
@require("read")
def manifest(model: str, version: str) -> Any:
    model_arg(model)
    number = version_path_arg(version)
    try:
        return reply(from_json(ManifestView, services().remote.read_manifest(model, number)))
    except NotFound:
        raise ApiError(
            404, f"{model}/{number} has no {MANIFEST_NAME} (absent or incomplete)"
        ) from None
    except (StoreError, OSError) as exc:
        raise ApiError(502, str(exc)) from None


@bp.get("/desired")
@require("read")
def desired() -> Any:
    remote = _read_remote()
    return reply(DesiredReply(generation=remote.generation, desired=remote.state_or_empty))


def _edit(edit: Edit, if_generation: int | None = None) -> EditReply:
    """Apply one edit under the generation precondition, then wake the pullers.

    Raises ApiError 404 (unknown model), 409 (lost race, stale ``if_generation``, edit that
    does not fit the state), 502 (bucket failure).
    """
    s = services()
    begin_change()
    try:
        result = s.remote.edit(edit, updated_by=f"{g.who}@master", if_generation=if_generation)
    except EditError as exc:
        extra = {"generation": exc.current} if hasattr(exc, "current") else {}
        raise ApiError(exc.status, str(exc), reason=exc.reason, **extra) from None
    except PreconditionFailed:
        s.metrics.desired_writes.labels("conflict").inc()
        raise ApiError(
            409,
            "desired state changed while this edit was applied (lost race): nothing changed; "
            "re-read and retry",
            reason="precondition_failed",
        ) from None
    except (StoreError, OSError) as exc:
        s.metrics.desired_writes.labels("error").inc()
        raise ApiError(502, f"cannot change desired state: {exc}") from None
    sync = None
    if result.changed:
        s.metrics.desired_writes.labels("ok").inc()
        op = s.cluster.operation("sync", deadline=2.0)
        sync = SyncSummary(op.targets, op.ok, op.failed, op.skipped_stale)
        s.cluster.invalidate()
    return EditReply(
        model=edit.model,
        op=edit.op,
        generation=result.generation,
        changed=result.changed,
        entry=_view(edit.model, result.state.entry(edit.model)),
        adopted=result.adopted,
        sync=sync,
    )


@bp.post("/models/<model>/promote")
@require("admin")
@audited("promote")
def promote(model: str) -> Any:
    model_arg(model)
    body = parse_body(PromoteBody)
    return reply(_edit(Edit("promote", model, body.version), body.if_generation))


@bp.post("/models/<model>/rollback")
@require("admin")
@audited("rollback")
def rollback(model: str) -> Any:
    model_arg(model)
    body = parse_body(RollbackBody)
    return reply(_edit(Edit("rollback", model), body.if_generation))


@bp.post("/models/<model>/pin")
@require("admin")
@audited("pin")
def pin(model: str) -> Any:
    model_arg(model)
    body = parse_body(PinBody)
    if not body.pinned and body.version is not None:
        raise ApiError(400, "version goes with pinned true only (unpin takes no version)")
    edit = Edit("pin", model, body.version) if body.pinned else Edit("unpin", model)
    return reply(_edit(edit, body.if_generation))


@bp.post("/models/<model>/labels")
@require("admin")
@audited("label")
def label(model: str) -> Any:
    model_arg(model)
    body = parse_body(LabelBody)
    if body.version is None:
        edit = Edit("unlabel", model, label=body.label)
    else:
        edit = Edit("label", model, body.version, label=body.label)
    return reply(_edit(edit, body.if_generation))


@bp.post("/models/<model>/retire")
@require("admin")
@audited("retire")
def retire(model: str) -> Any:
    model_arg(model)
    body = parse_body(RetireBody)
    edit = Edit("retire", model) if body.retired else Edit("unretire", model)
    return reply(_edit(edit, body.if_generation))


@bp.delete("/models/<model>/versions/<version>")
@require("admin")
@audited("delete_version")
def delete_version(model: str, version: str) -> Any:
    """Refused (409) while any node serves the version or a live node cannot be asked, and
    while the version is desired; the catalog is written once, then the objects go."""
    model_arg(model)
    number = version_path_arg(version)
    s = services()
    serving, unknown = s.cluster.hosts_serving(model, number)
    if serving:
        raise ApiError(
            409,
            f"{model}/{number} is served by {len(serving)} node(s)",
            reason="in_use",
            hosts=serving,
        )
    if unknown:
        raise ApiError(
            409,
            f"cannot prove {model}/{number} is unused: {len(unknown)} config manager(s) did not "
            "answer",
            reason="unverified",
            hosts=unknown,
        )
    try:
        present = s.remote.list_versions(model)
    except (StoreError, OSError) as exc:
        raise ApiError(502, str(exc)) from None
    remote = _read_remote()
    entry = remote.state_or_empty.entry(model)
    in_catalog = entry is not None and number in entry.published
    if number not in present and not in_catalog:
        raise ApiError(404, f"no version {number} of {model}")
    begin_change()
    if in_catalog:
        result = _edit(Edit("forget_version", model, number))
    else:  # objects of a version the catalog never listed: nothing to write
        result = EditReply(model, "forget_version", remote.generation, False, _view(model, entry))
    try:
        deleted = s.remote.delete_version_objects(model, number)
    except NotFound:
        deleted = 0
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"catalog updated but deleting objects failed: {exc}") from None
    return reply(replace(result, deleted_objects=deleted))
