"""Helpers shared by the master's blueprints: the app's services, errors, the request body,
validated arguments and what the audit log records of a request.

``ApiError`` is raised by views and helpers and becomes the JSON error shape
(:class:`~modelfleet.contracts.cluster.ErrorBody`); the status says what went wrong (400 bad
input, 404 unknown thing, 409 conflict with the current state or a lost race, 413 body too
large, 502 the bucket failed). Every argument a view uses goes through one helper here,
which validates it with :mod:`modelfleet.names` and records it for the audit entry, so the
audit log holds what the master understood — never the raw body.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, jsonify, request

from ..contracts.cluster import ErrorBody, RequestSummary
from ..contracts.schema import ContractError, from_json, to_json
from ..names import (
    InvalidName,
    parse_version,
    shown,
    validate_hostname,
    validate_model_name,
    validate_zone,
)
from .audit import AuditLog
from .cluster import Cluster
from .registry import Registry
from .remote import RemoteState

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "ApiError",
    "Services",
    "audited",
    "bounded",
    "error_response",
    "json_body",
    "parse_body",
    "reply",
    "services",
]

F = TypeVar("F", bound=Callable[..., Any])
B = TypeVar("B")

MAX_BODY_BYTES = 64 << 10  # the largest legitimate body is a few hundred bytes
MAX_JSON_DEPTH = 4  # bodies are flat objects; deeper nesting is refused before parsing
MAX_FIELDS_RECORDED = 16


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass
class Services:
    registry: Registry
    cluster: Cluster
    remote: RemoteState
    audit: AuditLog
    metrics: Any
    identity: Any  # .identity.NodeIdentity (not imported here: it would be a cycle)


def bounded(text: str, limit: int) -> str:
    """Printable ASCII, cut to ``limit``: what the audit log and error messages may carry of
    a request (paths, field names) whatever the request holds."""
    safe = text.encode("unicode_escape").decode("ascii")
    return safe if len(safe) <= limit else safe[: limit - 1] + "~"


def services() -> Services:
    return cast(Services, current_app.extensions["modelfleet"])


def reply(document: Any, status: int = 200) -> tuple[Response, int]:
    """A contract value as the JSON response (its declaration is the response schema)."""
    return jsonify(to_json(document)), status


def error_response(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """The one error shape (:class:`ErrorBody`); the message is kept for the audit entry."""
    g.audit_error = message
    body = ErrorBody(error=message, **extra)
    return jsonify(to_json(body, omit_none=True)), status


# -- the body --------------------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(raw: bytes) -> int:
    """Nesting depth of a JSON text, found without parsing it (strings are skipped): a body
    nested 10,000 deep is refused before the parser recurses into it."""
    depth = deepest = 0
    for byte in _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw)):
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(allowed: set[str] | None) -> dict[str, Any]:
    """The request's JSON object body (an empty body is ``{}``).

    Raises 413 (via ``MAX_CONTENT_LENGTH``) for a body over :data:`MAX_BODY_BYTES`, and 400
    for a body that is not JSON, nested deeper than :data:`MAX_JSON_DEPTH`, not an object,
    or has fields outside ``allowed`` (None: any field, for peers that may be newer).
    """
    raw = request.get_data(cache=True)
    summary = RequestSummary(
        bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest() if raw else "",
        content_type=bounded(request.content_type or "", 80),
        fields=(),
    )
    g.request_summary = summary
    if not raw:
        return {}
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"body must be a JSON object, not {type(data).__name__}")
    names = sorted(data)
    g.request_summary = RequestSummary(
        bytes=summary.bytes,
        sha256=summary.sha256,
        content_type=summary.content_type,
        fields=tuple(bounded(n, 40) for n in names[:MAX_FIELDS_RECORDED]),
    )
    unknown = [n for n in names if allowed is not None and n not in allowed]
    if unknown:
        listed = ", ".join(shown(n, 40) for n in unknown[:5])
        raise ApiError(
            400, f"unknown field(s): {listed}; allowed: {', '.join(sorted(allowed or ()))}"
        )
    return data


def parse_body(contract: type[B]) -> B:
    """The body checked against its declaration (the same one the OpenAPI document
    publishes); 400 naming the first bad field. Its fields go to the audit entry."""
    assert dataclasses.is_dataclass(contract)
    data = json_body({f.name for f in dataclasses.fields(contract)})
    try:
        body: B = from_json(contract, data)
    except ContractError as exc:
        raise ApiError(400, str(exc)) from None
    for name, value in to_json(body, omit_none=True).items():
        _record(name, value)
    return body


# -- validated arguments ---------------------------------------------------------------------


def _record(field: str, value: Any) -> Any:
    if not hasattr(g, "audit_args"):
        g.audit_args = {}
    g.audit_args[field] = value
    return value


def _check(field: str, check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return _record(field, check(value))
    except InvalidName as exc:
        raise ApiError(400, f"{field}: {exc}") from None


def model_arg(value: Any) -> str:
    return cast(str, _check("model", validate_model_name, value))


def version_path_arg(value: str) -> int:
    """A version in the URL path: digits only, no sign, no leading zero."""
    return cast(int, _check("version", parse_version, value))


def zone_arg(value: Any, field: str = "zone") -> str:
    return cast(str, _check(field, validate_zone, value))


def host_arg(value: Any, field: str = "node") -> str:
    return cast(str, _check(field, validate_hostname, value))


_DIGITS = re.compile(r"[0-9]{1,6}")


def int_query(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter written with ASCII digits, within [low, high]."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be an integer between {low} and {high}")
    return int(raw)


def audited(action: str) -> Callable[[F], F]:
    """Mark a view as a state change: the app records every call of it in the audit log,
    whatever the result (and refusals of any endpoint too, see ``create_app``)."""

    def decorate(view: F) -> F:
        view.audit_action = action  # type: ignore[attr-defined]  # kept by functools.wraps
        return view

    return decorate
