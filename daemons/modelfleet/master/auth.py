"""Who may call what: admin and read-only operator tokens, and the cluster token of nodes.

Every endpoint except ``/healthz`` and ``/metrics`` is declared with one of the levels below
(``@require("read")`` …); a request without a token gets 401, a token of the wrong kind 403,
both with the JSON error shape. Tokens come as ``Authorization: Bearer <token>`` or, for the
dashboard in a browser, HTTP Basic with the token as password (the user name is recorded in
the audit log). Comparison is constant time; tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from ..tokens import tokens_equal
from .api import error_response

__all__ = ["LEVELS", "identify", "require"]

F = TypeVar("F", bound=Callable[..., Any])

# level → the roles allowed at that level
LEVELS: dict[str, tuple[str, ...]] = {
    "read": ("admin", "readonly"),
    "admin": ("admin",),
    "cluster": ("cluster",),
}
_USER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _credentials() -> tuple[str | None, str | None]:
    """(token, user name) from the Authorization header; (None, None) when absent/garbled."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, request.headers.get("X-Modelfleet-User")
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return password or None, user
    return None, None


def identify() -> tuple[str | None, str]:
    """(role, who) of the current request; role is None when no valid token was given."""
    token, user = _credentials()
    tokens = current_app.config["TOKENS"]
    role = None
    for name in ("admin", "readonly", "cluster"):
        if tokens_equal(token, tokens.get(name)):
            role = name
    who = role or "anonymous"
    if user and _USER_RE.match(user):
        who = f"{user}@{role}" if role else user
    return role, who


def require(level: str) -> Callable[[F], F]:
    """Decorator: refuse the call with 401/403 unless the token's role fits ``level``."""
    allowed = LEVELS[level]

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            role, who = identify()
            g.role, g.who = role, who
            if role is None:
                resp, status = error_response(401, "missing or wrong token")
                if request.path.startswith("/dashboard") or request.path == "/":
                    resp.headers["WWW-Authenticate"] = 'Basic realm="modelfleet"'
                return resp, status
            if role not in allowed:
                return error_response(
                    403, f"a {role} token may not call this endpoint (needs {level})"
                )
            return view(*args, **kwargs)

        wrapper.auth_level = level  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate
