"""The OpenAPI 3.1 document of the master API, served at ``/api/v1/openapi.json``.

Written next to the views, with every schema generated from the declarations the views
use (:mod:`modelfleet.contracts`): request bodies, success answers and the error shape.
schemathesis checks the running API against it, responses included. ``x-auth-level`` says
which token an operation needs: ``read`` (read-only or admin operator token), ``admin``
(admin operator token) or ``node`` (a node's own token, docs/contracts.md "Node identity").
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..contracts import cluster as c
from ..contracts import master_api as m
from ..contracts import node
from ..contracts.schema import json_schema
from ..names import HOSTNAME_PATTERN, MODEL_NAME_PATTERN, VERSION_PATTERN
from .api import MAX_BODY_BYTES

__all__ = ["openapi_document"]

_ERRORS = {
    "400": "Bad input: body, path or query parameter invalid; nothing changed.",
    "401": "No token or a wrong token.",
    "403": "A valid token of a kind not allowed here (e.g. read-only token on a write); a "
    "state change a browser sends from another origin; a registration for another node's "
    "name, from an address its name does not resolve to, or on another port than its "
    "service's (`reason: registration_refused`).",
    "404": "Unknown model, version, node or path.",
    "409": "Conflict: lost race on desired state (`reason: precondition_failed`), or the edit "
    "does not fit the current state (`reason: invalid_for_current_state`, `in_use`, "
    "`unverified`).",
    "405": "Method not allowed on this path (`Allow` lists those that are): "
    "`/api/v1/nodes/register` takes POST only.",
    "413": f"Request body larger than {MAX_BODY_BYTES} bytes.",
    "415": "A body (or a Content-Type) that is not `application/json`.",
    "429": "The registry is full (`reason: registry_full`, `MODELFLEET_MAX_NODES`).",
    "502": "The bucket could not be read or written.",
    "503": "DNS did not resolve a registering node's name in time; retry.",
    "507": "The change could not be made durable (state or audit log not written: a full "
    "disk); nothing changed (`reason: state_not_written`, `audit_not_written`).",
}

_NAME = {"type": "string", "pattern": MODEL_NAME_PATTERN}
_HOST = {"type": "string", "pattern": HOSTNAME_PATTERN, "maxLength": 253}
# In /nodes/{hostname}: "register" is the registration endpoint, not a host.
_HOST_SEGMENT = {**_HOST, "not": {"const": "register"}}
_VERSION_TEXT = {"type": "string", "pattern": VERSION_PATTERN}


class _Builder:
    """Collects components while the paths are declared."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def schema(self, contract: Any) -> dict[str, Any]:
        return json_schema(contract, self.components)

    def op(
        self,
        summary: str,
        level: str,
        answer: Any,
        errors: tuple[str, ...] = (),
        *,
        description: str = "",
        body: Any = None,
        body_required: bool = False,
        params: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        codes = {"400", "401", "403", *errors}
        if body is not None:
            codes.update(("413", "415"))
        if level == "admin" or level == "node":  # state changes: durable before acknowledged
            codes.add("507")
        if params and any(p["in"] == "path" for p in params):
            codes.add("404")
        op: dict[str, Any] = {
            "summary": summary,
            "description": (description + f"\n\nAuth: `{level}`.").strip(),
            "x-auth-level": level,
            "security": [{"bearer": []}, {"basic": []}],
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {"application/json": {"schema": self.schema(answer)}},
                }
            },
        }
        error = {"content": {"application/json": {"schema": self.schema(c.ErrorBody)}}}
        for code in sorted(codes):
            op["responses"][code] = {"description": _ERRORS[code], **error}
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": self.schema(body)}},
            }
        return op


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(
    name: str, schema: dict[str, Any], required: bool = False, desc: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": desc,
    }


def _paths(b: _Builder) -> dict[str, Any]:
    model = _path("model", _NAME)
    version = _path("version", _VERSION_TEXT)
    zone_q = _query("zone", _NAME, desc="only this maintenance zone")
    fresh_q = _query(
        "fresh",
        {"type": "string", "enum": ["true", "false", "1", "0"]},
        desc="bypass the status cache (default false)",
    )
    edit_errors = ("404", "409", "502")
    return {
        "/api/v1/nodes/register": {
            "post": b.op(
                "Register a node daemon / heartbeat",
                "node",
                m.RegisterReply,
                ("429", "503"),
                description="Sent by remote_model_puller and config_manager every heartbeat "
                "interval. Answers whether the node's host or zone is in maintenance.",
                body=node.Registration,
                body_required=True,
            )
        },
        "/api/v1/nodes": {
            "get": b.op("List registered node daemons", "read", m.NodeList, params=[zone_q])
        },
        "/api/v1/nodes/{hostname}": {
            "get": b.op(
                "One host: its daemons and live status",
                "read",
                m.NodeDetail,
                ("405",),
                params=[_path("hostname", _HOST_SEGMENT)],
            ),
            "delete": b.op(
                "Forget a decommissioned host (it re-registers if it is alive)",
                "admin",
                m.ForgetReply,
                ("405",),
                params=[_path("hostname", _HOST_SEGMENT)],
            ),
        },
        "/api/v1/cluster/status": {
            "get": b.op(
                "Live cluster status",
                "read",
                c.ClusterStatus,
                description="Fans out to every live daemon (bounded concurrency, per-node "
                "deadline) while the desired state is read from the bucket within the same "
                "deadline (a cached copy or none when the bucket is slow: `desired.source`). "
                "Per host: state, TF Serving reachability, versions loaded, problems with "
                "codes, restarts; per model the serving sets and drift; the triage verdict.",
                params=[zone_q, fresh_q],
            )
        },
        "/api/v1/triage": {
            "get": b.op(
                "RUNBOOK outage decision tree on the live status",
                "read",
                c.Triage,
                params=[fresh_q],
            )
        },
        "/api/v1/cluster/sync": {
            "post": b.op(
                "Sync now: wake pullers (all, a zone or a node)",
                "admin",
                m.OperationResult,
                body=m.TargetBody,
            )
        },
        "/api/v1/cluster/reload": {
            "post": b.op(
                "Reload: config managers re-apply TF Serving config",
                "admin",
                m.OperationResult,
                body=m.TargetBody,
            )
        },
        "/api/v1/maintenance": {
            "get": b.op("Maintenance flags of zones and nodes", "read", c.Maintenance),
            "post": b.op(
                "Set or clear maintenance for a zone or a node",
                "admin",
                m.MaintenanceChange,
                description="Ansible drain playbook: first `GET /api/v1/drain-check?zone=Z` "
                "and stop unless `allowed` is true, then `POST /api/v1/maintenance` with "
                '`{"zone": "Z", "enabled": true, "reason": "…"}`. Undrain: same with '
                '`"enabled": false`. Per host: `{"node": "host", "enabled": true}`. '
                "Idempotent (`changed` says whether anything changed).",
                body=m.MaintenanceBody,
                body_required=True,
            ),
        },
        "/api/v1/drain-check": {
            "get": b.op(
                "May zone Z be drained?",
                "read",
                c.DrainCheck,
                description="`allowed` is true only when the healthy serving nodes outside "
                "Z keep at least `min_share` (default MODELFLEET_DRAIN_MIN_SHARE, 0.75) of "
                "all registered nodes and no other zone is in maintenance; `reasons` says "
                "why. Ansible: `uri` + `failed_when: not result.json.allowed`.",
                params=[
                    _query("zone", _NAME, required=True, desc="the zone to drain"),
                    _query(
                        "min_share",
                        {"type": "number", "minimum": 0, "maximum": 1},
                        desc="override the required share of capacity",
                    ),
                ],
            )
        },
        "/api/v1/audit": {
            "get": b.op(
                "Newest audit log entries (oldest first)",
                "read",
                c.AuditPage,
                params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
            )
        },
        "/api/v1/models": {
            "get": b.op(
                "Models in the bucket with their desired state", "read", m.ModelList, ("502",)
            )
        },
        "/api/v1/models/{model}": {
            "get": b.op(
                "One model: desired state and versions in the bucket",
                "read",
                m.ModelDetail,
                ("502",),
                params=[model],
            )
        },
        "/api/v1/models/{model}/versions/{version}/manifest": {
            "get": b.op(
                "Manifest of a complete version",
                "read",
                m.ManifestView,
                ("502",),
                params=[model, version],
            )
        },
        "/api/v1/models/{model}/versions/{version}": {
            "delete": b.op(
                "Delete a version from the bucket",
                "admin",
                m.EditReply,
                edit_errors,
                description="Refused (409 `in_use`) while any node has it loaded, (409 "
                "`unverified`) while a live config manager does not answer, and (409) while "
                "it is desired or labelled. The catalog is written once, then the objects "
                "are deleted, manifest first.",
                params=[model, version],
            )
        },
        "/api/v1/desired": {
            "get": b.op(
                "The remote desired state and its generation", "read", m.DesiredReply, ("502",)
            )
        },
        "/api/v1/models/{model}/promote": {
            "post": b.op(
                "Serve exactly this version, labelled stable",
                "admin",
                m.EditReply,
                edit_errors,
                description="The previous serving set goes to history (for rollback); then "
                "sync now. 404 for a model that was never published.",
                body=m.PromoteBody,
                body_required=True,
                params=[model],
            )
        },
        "/api/v1/models/{model}/rollback": {
            "post": b.op(
                "Serve the previous serving set again",
                "admin",
                m.EditReply,
                edit_errors,
                body=m.RollbackBody,
                params=[model],
            )
        },
        "/api/v1/models/{model}/pin": {
            "post": b.op(
                "Pin (or unpin) a model to a version",
                "admin",
                m.EditReply,
                edit_errors,
                body=m.PinBody,
                params=[model],
            )
        },
        "/api/v1/models/{model}/labels": {
            "post": b.op(
                "Set a version label (stable, canary…); version null removes it",
                "admin",
                m.EditReply,
                edit_errors,
                description="Labelling a version that is not served adds it to the serving "
                "set (canary next to stable).",
                body=m.LabelBody,
                body_required=True,
                params=[model],
            )
        },
        "/api/v1/models/{model}/retire": {
            "post": b.op(
                "Retire (or un-retire) a model everywhere",
                "admin",
                m.EditReply,
                edit_errors,
                body=m.RetireBody,
                params=[model],
            )
        },
        "/api/v1/openapi.json": {"get": b.op("This document", "read", dict[str, Any])},
        "/api/v1/quarantine": {
            "get": b.op(
                "Quarantined versions on every config manager",
                "read",
                m.QuarantineReport,
                description="Fans out to the live config managers (a node that does not "
                "answer is listed under failed).",
                params=[
                    _query("model", _NAME),
                    _query("version", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}),
                    zone_q,
                    _query("node", _HOST, desc="only this host"),
                ],
            )
        },
        "/api/v1/quarantine/{model}": {
            "delete": b.op(
                "Clear the quarantine of every version of a model (tried again at once)",
                "admin",
                m.QuarantineClearReport,
                params=[model, zone_q, _query("node", _HOST, desc="only this host")],
            )
        },
        "/api/v1/quarantine/{model}/{version}": {
            "delete": b.op(
                "Clear the quarantine of one version (tried again at once)",
                "admin",
                m.QuarantineClearReport,
                params=[model, version, zone_q, _query("node", _HOST, desc="only this host")],
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    b = _Builder()
    paths = _paths(b)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelfleet master",
            "version": __version__,
            "description": "Operate a fleet of TensorFlow Serving hosts. Tokens: "
            "`Authorization: Bearer <token>` (or HTTP Basic with the token as password). "
            'Errors are `{"error": message, …}` (ErrorBody). No auth on /healthz, /readyz, '
            "/metrics. Paths are matched as sent: no slash merging, no redirects.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": b.components,
        },
    }
