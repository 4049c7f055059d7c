"""Blueprint: remote model state — models, versions, manifests, desired state and its edits.

Every edit reads ``_modelfleet/desired.json`` with its generation, applies one pure edit
(:mod:`.desired`) and writes it back with ``if_generation_match``: a concurrent writer makes
the loser fail with 409 and nothing changes. A successful write is followed by a fan-out of
"sync now" to every puller so the change lands in seconds.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from .api import (
    ApiError,
    audited,
    body,
    bool_arg,
    generation_arg,
    model_arg,
    services,
    version_arg,
)
from .auth import require
from .desired import DesiredError, apply, effective_versions, model_entry
from .remote import MANIFEST_NAME, NotFound, PreconditionFailed, StoreError

bp = Blueprint("models", __name__)


def _read_desired() -> tuple[dict[str, Any], int]:
    try:
        return services().remote.read_desired()
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot read desired state: {exc}") from None


def _model_view(doc: dict[str, Any], model: str) -> dict[str, Any]:
    entry = model_entry(doc, model)
    return {"model": model, **entry, "serving": effective_versions(entry)}


@bp.get("/models")
@require("read")
def list_models() -> Any:
    doc, generation = _read_desired()
    try:
        names = set(services().remote.list_models())
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot list the bucket: {exc}") from None
    names.update(doc.get("models", {}))
    models = [_model_view(doc, m) for m in sorted(names)]
    return jsonify({"models": models, "generation": generation})


@bp.get("/models/<model>")
@require("read")
def model_detail(model: str) -> Any:
    model_arg(model)
    doc, generation = _read_desired()
    try:
        versions = services().remote.list_versions(model)
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"cannot list {model}: {exc}") from None
    if not versions and model not in doc.get("models", {}):
        raise ApiError(404, f"no model {model!r} in the bucket")
    return jsonify(
        {
            **_model_view(doc, model),
            "generation": generation,
            "bucket_versions": [{"version": v, "complete": c} for v, c in versions.items()],
        }
    )


@bp.get("/models/<model>/versions/<version>/manifest")
@require("read")
def manifest(model: str, version: str) -> Any:
    model_arg(model)
    number = version_arg(version)
    try:
        return jsonify(services().remote.read_manifest(model, number))
    except NotFound:
        raise ApiError(
            404, f"{model}/{number} has no {MANIFEST_NAME} (absent or incomplete)"
        ) from None
    except (StoreError, OSError) as exc:
        raise ApiError(502, str(exc)) from None


@bp.get("/desired")
@require("read")
def desired() -> Any:
    doc, generation = _read_desired()
    return jsonify({"generation": generation, "desired": doc})


def _edit(model: str, op: str, args: dict[str, Any], if_generation: int | None) -> Any:
    """Read-modify-write with the generation precondition, then fan out sync.

    Raises ApiError 409 (lost race / state conflict), 502 (bucket failure).
    """
    s = services()
    doc, generation = _read_desired()
    if if_generation is not None and if_generation != generation:
        raise ApiError(
            409,
            f"desired state is at generation {generation}, not {if_generation}: re-read and retry",
            reason="precondition_failed",
            generation=generation,
        )
    version = args.get("version")
    entry = model_entry(doc, model)
    if version is not None and version not in entry["published"] and op != "delete_version":
        # A complete version uploaded without the catalog being updated: adopt it.
        try:
            complete = s.remote.is_complete(model, version)
        except (StoreError, OSError) as exc:
            raise ApiError(502, f"cannot check {model}/{version}: {exc}") from None
        if complete:
            doc.setdefault("models", {})[model] = {
                **entry,
                "published": sorted({*entry["published"], version}),
            }
    try:
        new = apply(doc, model, op, args)
    except DesiredError as exc:
        raise ApiError(409, str(exc), reason="invalid_for_current_state") from None
    try:
        new_generation = s.remote.write_desired(
            new, if_generation_match=generation, updated_by=f"{g.who}@master"
        )
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
        raise ApiError(502, f"cannot write desired state: {exc}") from None
    s.metrics.desired_writes.labels("ok").inc()
    sync = s.cluster.operation("sync", deadline=2.0)
    s.cluster.invalidate()
    return {
        "model": model,
        "op": op,
        "generation": new_generation,
        "entry": _model_view(new, model),
        "sync": {k: sync[k] for k in ("targets", "ok", "failed", "skipped_stale")},
    }


@bp.post("/models/<model>/promote")
@require("admin")
@audited("promote")
def promote(model: str) -> Any:
    model_arg(model)
    data = body({"version", "if_generation"})
    if "version" not in data:
        raise ApiError(400, "version is required")
    version = version_arg(data["version"])
    return jsonify(_edit(model, "promote", {"version": version}, generation_arg(data)))


@bp.post("/models/<model>/rollback")
@require("admin")
@audited("rollback")
def rollback(model: str) -> Any:
    model_arg(model)
    data = body({"if_generation"})
    return jsonify(_edit(model, "rollback", {}, generation_arg(data)))


@bp.post("/models/<model>/pin")
@require("admin")
@audited("pin")
def pin(model: str) -> Any:
    model_arg(model)
    data = body({"pinned", "version", "if_generation"})
    args: dict[str, Any] = {"pinned": bool_arg(data, "pinned", True)}
    if data.get("version") is not None:
        args["version"] = version_arg(data["version"])
    return jsonify(_edit(model, "pin", args, generation_arg(data)))


@bp.post("/models/<model>/labels")
@require("admin")
@audited("label")
def label(model: str) -> Any:
    from ..names import InvalidName, validate_label

    model_arg(model)
    data = body({"label", "version", "if_generation"})
    try:
        name = validate_label(data.get("label"))
    except InvalidName as exc:
        raise ApiError(400, str(exc)) from None
    if "version" not in data:
        raise ApiError(400, "version is required (null removes the label)")
    version = None if data["version"] is None else version_arg(data["version"])
    return jsonify(_edit(model, "label", {"label": name, "version": version}, generation_arg(data)))


@bp.post("/models/<model>/retire")
@require("admin")
@audited("retire")
def retire(model: str) -> Any:
    model_arg(model)
    data = body({"retired", "if_generation"})
    args = {"retired": bool_arg(data, "retired", True)}
    return jsonify(_edit(model, "retire", args, generation_arg(data)))


@bp.delete("/models/<model>/versions/<version>")
@require("admin")
@audited("delete_version")
def delete_version(model: str, version: str) -> Any:
    """Refused (409) while any node serves the version or a live node cannot be asked."""
    model_arg(model)
    number = version_arg(version)
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
    doc, _ = _read_desired()
    if number not in present and number not in model_entry(doc, model)["published"]:
        raise ApiError(404, f"no version {number} of {model}")
    result = _edit(model, "delete_version", {"version": number}, None)
    try:
        result["deleted_objects"] = s.remote.delete_version(model, number, f"{g.who}@master")
    except NotFound:
        result["deleted_objects"] = 0
    except (StoreError, OSError) as exc:
        raise ApiError(502, f"catalog updated but deleting objects failed: {exc}") from None
    return jsonify(result)
