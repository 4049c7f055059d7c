"""Helpers shared by the master's blueprints: the app's services, errors, bodies, audit.

``ApiError`` is raised by views and helpers and becomes the JSON error shape of
:func:`modelfleet.node.admin.json_error`; the status code says what went wrong (400 bad
input, 404 unknown thing, 409 conflict with the current state or a lost race, 502 the bucket
failed). Helpers document which of these they raise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from ..contracts.node import validate_hostname
from ..names import InvalidName, parse_version, validate_model_name, validate_zone
from .audit import AuditLog
from .cluster import Cluster
from .registry import Registry
from .remote import RemoteState

__all__ = ["ApiError", "Services", "audited", "body", "services"]

F = TypeVar("F", bound=Callable[..., Any])


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


def services() -> Services:
    return cast(Services, current_app.extensions["modelfleet"])


def body(allowed: set[str]) -> dict[str, Any]:
    """The JSON object body; 400 if it is not an object or has unknown fields."""
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    return data


def model_arg(model: str) -> str:
    try:
        return validate_model_name(model)
    except InvalidName as exc:
        raise ApiError(400, str(exc)) from None


def version_arg(value: Any, field: str = "version") -> int:
    try:
        return parse_version(value)
    except InvalidName as exc:
        raise ApiError(400, f"{field}: {exc}") from None


def zone_arg(value: Any, field: str = "zone") -> str:
    try:
        return validate_zone(value)
    except InvalidName as exc:
        raise ApiError(400, f"{field}: {exc}") from None


def host_arg(value: Any, field: str = "node") -> str:
    try:
        return validate_hostname(value)
    except InvalidName as exc:
        raise ApiError(400, f"{field}: {exc}") from None


def bool_arg(data: dict[str, Any], field: str, default: bool) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"{field} must be true or false")
    return value


def generation_arg(data: dict[str, Any]) -> int | None:
    value = data.get("if_generation")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(400, "if_generation must be a non-negative integer")
    return value


def audited(action: str) -> Callable[[F], F]:
    """Record the call in the audit log after the view ran (whatever the result)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            status, error = 500, "internal error"
            try:
                result = view(*args, **kwargs)
                status = result[1] if isinstance(result, tuple) else 200
                error = ""
                return result
            except ApiError as exc:
                status, error = exc.status, exc.message
                raise
            finally:
                data = request.get_json(silent=True) if request.data else None
                target = kwargs.get("model") or ""
                if kwargs.get("version"):
                    target = f"{target}/{kwargs['version']}"
                services().audit.append(
                    who=getattr(g, "who", "anonymous"),
                    role=getattr(g, "role", None),
                    action=action,
                    method=request.method,
                    path=request.path,
                    model=kwargs.get("model"),
                    target=target or (data or {}).get("zone") or (data or {}).get("node") or "",
                    body=data if isinstance(data, dict) else None,
                    status=status,
                    result="ok" if status < 400 else "error",
                    error=error,
                    remote_addr=request.remote_addr,
                )

        return cast(F, wrapper)

    return decorate
