"""The config manager's admin API (docs/contracts.md), outside the domain class.

Under ``/api/v1`` with the cluster token (checked by :func:`modelfleet.node.admin.create_node_app`):

- ``GET /models`` — :class:`~modelfleet.contracts.node.ConfigManagerStatus`;
- ``POST /reload`` — one pass now that re-sends the config: ``{"applied", "config_changed",
  "error"}``;
- ``GET /quarantine[?model=M][&version=V]`` — :class:`~modelfleet.contracts.node.QuarantineList`;
- ``DELETE /quarantine/<model>[/<version>]`` — clear entries, then wake the reconcile loop so
  the version is tried again at once: :class:`~modelfleet.contracts.node.QuarantineClearResult`
  (an empty ``cleared`` list when nothing matched: clearing is idempotent).

A model name or version that is not valid answers 400 with the one error shape and changes
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..contracts.node import QuarantineClearResult, QuarantineList
from ..contracts.schema import to_json
from ..names import InvalidName, parse_version, validate_model_name
from ..node.web import Request, Routes, json_error

if TYPE_CHECKING:
    from .daemon import ConfigManager

__all__ = ["blueprint"]


def blueprint(cm: ConfigManager) -> Routes:
    bp = Routes()

    @bp.get("/models")
    def models(_request: Request) -> Any:
        return to_json(cm.status())

    @bp.post("/reload")
    def reload(_request: Request) -> Any:
        result = cm.reconcile(force=True)
        return {
            "applied": result.applied,
            "config_changed": result.config_changed,
            "error": result.error,
        }

    @bp.get("/quarantine")
    def list_quarantine(request: Request) -> Any:
        try:
            model = request.args.get("model")
            version = request.args.get("version")
            entries = cm.quarantine.entries(
                validate_model_name(model) if model is not None else None,
                parse_version(version) if version is not None else None,
            )
        except InvalidName as exc:
            return json_error(400, str(exc))
        s = cm.settings
        return to_json(QuarantineList(s.hostname, s.zone, tuple(entries)))

    @bp.delete("/quarantine/<model>")
    @bp.delete("/quarantine/<model>/<version>")
    def clear_quarantine(_request: Request, model: str, version: str | None = None) -> Any:
        try:
            name = validate_model_name(model)
            number = parse_version(version) if version is not None else None
        except InvalidName as exc:
            return json_error(400, str(exc))
        cleared = cm.quarantine.clear(name, number)
        if cleared:
            cm.wake()
        return to_json(QuarantineClearResult(cm.settings.hostname, tuple(cleared)))

    return bp
