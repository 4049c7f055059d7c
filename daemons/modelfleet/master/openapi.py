"""The OpenAPI 3.0 document of the master API, served at ``/api/v1/openapi.json``.

Written by hand next to the views so that every status a view can return is documented (the
schemathesis test checks it). ``x-auth-level`` says which token an operation needs:
``read`` (read-only or admin operator token), ``admin`` (admin operator token) or
``cluster`` (node daemons).
"""

from __future__ import annotations

from typing import Any

from .. import __version__

__all__ = ["ENDPOINTS", "openapi_document"]

_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"}
_HOST = {"type": "string", "minLength": 1, "maxLength": 253}
_VERSION = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_GEN = {
    "type": "integer",
    "minimum": 0,
    "description": "fail with 409 unless desired.json is at this generation",
}
_OBJ = {"type": "object"}

_ERRORS = {
    "400": "Bad input: body, path or query parameter invalid; nothing changed.",
    "401": "No token or a wrong token.",
    "403": "A valid token of a kind not allowed here (e.g. read-only token on a write).",
    "404": "Unknown model, version, node or path.",
    "409": "Conflict: lost race on desired state (`reason: precondition_failed`), or the edit "
    "does not fit the current state (`reason: invalid_for_current_state`, `in_use`, `unverified`).",
    "502": "The bucket could not be read or written.",
}


def _resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {
            "application/json": {"schema": schema or {"$ref": "#/components/schemas/Object"}}
        },
    }


def _op(
    summary: str,
    level: str,
    errors: tuple[str, ...],
    *,
    description: str = "",
    body: dict[str, Any] | None = None,
    required_body: bool = False,
    params: list[dict[str, Any]] | None = None,
    ok: str = "200",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": (description + f"\n\nAuth: `{level}`.").strip(),
        "x-auth-level": level,
        "security": [{"bearer": []}, {"basic": []}],
        "responses": {ok: _resp("Success")},
    }
    for code in ("401", "403", *errors):
        op["responses"][code] = _resp(_ERRORS[code], {"$ref": "#/components/schemas/Error"})
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": required_body,
            "content": {"application/json": {"schema": {"type": "object", **body}}},
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


_MODEL = _path("model", _NAME)
_ZONE_Q = _query("zone", _NAME, desc="only this maintenance zone")
_FRESH_Q = _query(
    "fresh",
    {"type": "string", "enum": ["true", "false"]},
    desc="bypass the status cache (default false)",
)
_TARGET = {
    "properties": {
        "zone": _NAME,
        "node": _HOST,
        "deadline": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 60},
    },
    "additionalProperties": False,
}

ENDPOINTS: dict[str, dict[str, dict[str, Any]]] = {
    "/api/v1/nodes/register": {
        "post": _op(
            "Register a node daemon / heartbeat",
            "cluster",
            ("400",),
            description="Sent by remote_model_puller and config_manager every heartbeat "
            "interval. Answers whether the node's host or zone is in maintenance.",
            body={
                "required": ["hostname", "service", "port"],
                "properties": {
                    "hostname": _HOST,
                    "service": {
                        "type": "string",
                        "enum": ["remote_model_puller", "config_manager"],
                    },
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "zone": _NAME,
                    "version": {"type": "string", "maxLength": 64},
                },
            },
            required_body=True,
        )
    },
    "/api/v1/nodes": {
        "get": _op("List registered node daemons", "read", ("400",), params=[_ZONE_Q])
    },
    "/api/v1/nodes/{hostname}": {
        "get": _op(
            "One host: its daemons and live status",
            "read",
            ("400", "404"),
            params=[_path("hostname", _HOST)],
        ),
        "delete": _op(
            "Forget a decommissioned host (it re-registers if it is alive)",
            "admin",
            ("400", "404"),
            params=[_path("hostname", _HOST)],
        ),
    },
    "/api/v1/cluster/status": {
        "get": _op(
            "Live cluster status",
            "read",
            ("400",),
            description="Fans out to every live daemon (bounded concurrency, per-node "
            "deadline; a node that fails or times out gets an error entry). Per host: state "
            "(healthy/degraded/down/stale), tfserving reachability, versions loaded and their "
            "state, drift, restarts; per model the serving sets and drift; the triage verdict.",
            params=[_ZONE_Q, _FRESH_Q],
        )
    },
    "/api/v1/triage": {
        "get": _op(
            "RUNBOOK outage decision tree on the live status", "read", ("400",), params=[_FRESH_Q]
        )
    },
    "/api/v1/cluster/sync": {
        "post": _op(
            "Sync now: wake pullers (all, a zone or a node)", "admin", ("400",), body=_TARGET
        )
    },
    "/api/v1/cluster/reload": {
        "post": _op(
            "Reload: config managers re-apply TF Serving config", "admin", ("400",), body=_TARGET
        )
    },
    "/api/v1/maintenance": {
        "get": _op("Maintenance flags of zones and nodes", "read", ()),
        "post": _op(
            "Set or clear maintenance for a zone or a node",
            "admin",
            ("400",),
            description="Ansible drain playbook: first `GET /api/v1/drain-check?zone=Z` and "
            "stop unless `allowed` is true, then `POST /api/v1/maintenance` with "
            '`{"zone": "Z", "enabled": true, "reason": "…"}`. Undrain: same with '
            '`"enabled": false`. Per host: `{"node": "host", "enabled": true}`. Idempotent '
            "(`changed` says whether anything changed). Persisted in the state dir.",
            body={
                "required": ["enabled"],
                "properties": {
                    "zone": _NAME,
                    "node": _HOST,
                    "enabled": {"type": "boolean"},
                    "reason": {"type": "string", "maxLength": 500},
                },
                "additionalProperties": False,
            },
            required_body=True,
        ),
    },
    "/api/v1/drain-check": {
        "get": _op(
            "May zone Z be drained?",
            "read",
            ("400",),
            description="Always 200; `allowed` is true only when the healthy serving nodes "
            "outside Z keep at least `min_share` (default MODELFLEET_DRAIN_MIN_SHARE, 0.75) of "
            "all registered nodes and no other zone is in maintenance. `reasons` says why. "
            "Ansible: `uri` + `failed_when: not result.json.allowed`.",
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
        "get": _op(
            "Newest audit log entries (oldest first)",
            "read",
            ("400",),
            params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 10000})],
        )
    },
    "/api/v1/models": {
        "get": _op("Models in the bucket with their desired state", "read", ("502",))
    },
    "/api/v1/models/{model}": {
        "get": _op(
            "One model: desired state and versions in the bucket",
            "read",
            ("400", "404", "502"),
            params=[_MODEL],
        )
    },
    "/api/v1/models/{model}/versions/{version}/manifest": {
        "get": _op(
            "Manifest of a complete version",
            "read",
            ("400", "404", "502"),
            params=[_MODEL, _path("version", _VERSION)],
        )
    },
    "/api/v1/models/{model}/versions/{version}": {
        "delete": _op(
            "Delete a version from the bucket",
            "admin",
            ("400", "404", "409", "502"),
            description="Refused (409 `in_use`) while any node has it loaded, (409 "
            "`unverified`) while a live config manager does not answer, and (409) while it is "
            "desired or labelled.",
            params=[_MODEL, _path("version", _VERSION)],
        )
    },
    "/api/v1/desired": {
        "get": _op("The remote desired state and its generation", "read", ("502",))
    },
    "/api/v1/models/{model}/promote": {
        "post": _op(
            "Serve exactly this version, labelled stable",
            "admin",
            ("400", "404", "409", "502"),
            description="Previous serving set goes to history (for rollback). Then sync now.",
            body={
                "required": ["version"],
                "properties": {"version": _VERSION, "if_generation": _GEN},
                "additionalProperties": False,
            },
            required_body=True,
            params=[_MODEL],
        )
    },
    "/api/v1/models/{model}/rollback": {
        "post": _op(
            "Serve the previous serving set again",
            "admin",
            ("400", "404", "409", "502"),
            body={"properties": {"if_generation": _GEN}, "additionalProperties": False},
            params=[_MODEL],
        )
    },
    "/api/v1/models/{model}/pin": {
        "post": _op(
            "Pin (or unpin) a model to a version",
            "admin",
            ("400", "404", "409", "502"),
            body={
                "properties": {
                    "pinned": {"type": "boolean"},
                    "version": _VERSION,
                    "if_generation": _GEN,
                },
                "additionalProperties": False,
            },
            params=[_MODEL],
        )
    },
    "/api/v1/models/{model}/labels": {
        "post": _op(
            "Set a version label (stable, canary…); version null removes it",
            "admin",
            ("400", "404", "409", "502"),
            description="Labelling a version that is not served adds it to the serving set "
            "(canary next to stable).",
            body={
                "required": ["label", "version"],
                "properties": {
                    "label": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,62}$"},
                    "version": {**_VERSION, "nullable": True},
                    "if_generation": _GEN,
                },
                "additionalProperties": False,
            },
            required_body=True,
            params=[_MODEL],
        )
    },
    "/api/v1/models/{model}/retire": {
        "post": _op(
            "Retire (or un-retire) a model everywhere",
            "admin",
            ("400", "404", "409", "502"),
            body={
                "properties": {"retired": {"type": "boolean"}, "if_generation": _GEN},
                "additionalProperties": False,
            },
            params=[_MODEL],
        )
    },
    "/api/v1/openapi.json": {"get": _op("This document", "read", ())},
    "/api/v1/quarantine": {
        "get": _op(
            "Quarantined versions on every config manager",
            "read",
            ("400",),
            description="Fans out to the live config managers (a node that does not answer "
            "is listed under failed). version needs model.",
            params=[
                _query("model", _NAME),
                _query("version", {"type": "string", "pattern": "^[1-9][0-9]{0,18}$"}),
                _ZONE_Q,
                _query("node", _HOST, desc="only this host"),
            ],
        )
    },
    "/api/v1/quarantine/{model}": {
        "delete": _op(
            "Clear the quarantine of every version of a model (they are tried again)",
            "admin",
            ("400",),
            params=[_MODEL, _ZONE_Q, _query("node", _HOST, desc="only this host")],
        )
    },
    "/api/v1/quarantine/{model}/{version}": {
        "delete": _op(
            "Clear the quarantine of one version (it is tried again)",
            "admin",
            ("400",),
            params=[
                _MODEL,
                _path("version", {"type": "string", "pattern": "^[1-9][0-9]{0,18}$"}),
                _ZONE_Q,
                _query("node", _HOST, desc="only this host"),
            ],
        )
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "modelfleet master",
            "version": __version__,
            "description": "Operate a fleet of TensorFlow Serving hosts. Tokens: "
            "`Authorization: Bearer <token>` (or HTTP Basic with the token as password). "
            'Errors are `{"error": message, …}`. No auth on /healthz, /readyz, /metrics.',
        },
        "paths": ENDPOINTS,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "Object": _OBJ,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }
