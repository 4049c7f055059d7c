"""Who may call what, who a caller is, and which browser requests are refused outright.

Every endpoint except ``/healthz``, ``/readyz`` and ``/metrics`` is declared with one of the
levels below (``@require("read")`` …); a request without a token gets 401, a token of the
wrong kind 403, both with the JSON error shape. Operators present the admin or read-only
token as ``Authorization: Bearer <token>`` or, for the dashboard in a browser, HTTP Basic
with the token as password. Nodes present their own token (:mod:`.identity`). Comparison is
constant time; tokens are never logged.

**Identity in the audit log.** ``who`` is what the token proves: ``admin``, ``readonly`` or
``node:<hostname>``. A user name the caller states (``X-Modelfleet-User``, the Basic user
name) proves nothing — anyone holding the admin token can type any name — so it is kept
apart, as ``claimed_user``.

**Browsers (CSRF).** A browser attaches the operator's Basic credentials to any request to
the master, including one a page on another origin makes it send. So a state-changing
request (any method but GET/HEAD/OPTIONS) is refused (403) when the browser says it comes
from elsewhere (``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin``
that is not this host), and a request with a body must be ``application/json`` (415) — a
type no HTML form can send and no cross-origin page can send without a CORS preflight the
master never grants. Programs (the CLI, nodes, Ansible) send neither header and a JSON body.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app, g, request

from ..tokens import tokens_equal
from .api import ApiError, bounded, error_response

__all__ = ["LEVELS", "check_browser_request", "identify", "peer_address", "require"]

F = TypeVar("F", bound=Callable[..., Any])

# level → the roles allowed at that level
LEVELS: dict[str, tuple[str, ...]] = {
    "read": ("admin", "readonly"),
    "admin": ("admin",),
    "node": ("node",),
}
_USER_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_SAME_SITE = ("same-origin", "none")


def _credentials() -> tuple[str | None, str | None]:
    """(token, claimed user name) from the Authorization header; (None, None) when absent."""
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
    """(role, who) of the current request; role is None when no valid token was given.

    Also sets ``g.claimed_user`` (a stated, unproved user name) and, for a node,
    ``g.node`` = (hostname, key id).
    """
    token, user = _credentials()
    g.claimed_user = user if user and _USER_RE.fullmatch(user) else None
    tokens = current_app.config["TOKENS"]
    role = None
    for name in ("admin", "readonly"):
        if tokens_equal(token, tokens.get(name)):
            role = name
    if role is not None:
        return role, role
    node = current_app.extensions["modelfleet"].identity.authenticate(token)
    if node is not None:
        g.node = node
        return "node", f"node:{node[0]}"
    return None, "anonymous"


def peer_address() -> str | None:
    """The client's address: the TCP peer, or ``X-Real-IP`` when the peer is one of the
    trusted proxies (``MODELFLEET_TRUSTED_PROXIES``: the local nginx front, which sets that
    header to the address it accepted the connection from)."""
    direct = request.remote_addr
    trusted = current_app.config["SETTINGS"].trusted_proxies
    if direct and direct in trusted:
        forwarded = request.headers.get("X-Real-IP", "").strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            return None
    return direct


def check_browser_request() -> None:
    """Refuse a state-changing request a browser was made to send from another origin, a body
    that is not JSON (see the module docstring) and one over the size limit — before any
    view runs. Raises :class:`ApiError`."""
    if request.method in SAFE_METHODS:
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in _SAME_SITE:
        raise ApiError(403, f"cross-site request refused (Sec-Fetch-Site: {bounded(site, 20)})")
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != request.host.lower():
            raise ApiError(403, f"cross-origin request refused (Origin: {bounded(origin, 100)})")
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    # An empty body without a type is "{}" (the optional bodies of the API); a form's type
    # is refused even with an empty body.
    if (has_body or request.mimetype) and request.mimetype != "application/json":
        shown = bounded(request.mimetype, 60) if request.mimetype else "none"
        raise ApiError(415, f"the body must be application/json (Content-Type: {shown})")


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
