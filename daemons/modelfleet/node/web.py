"""The few web-framework pieces a node daemon's admin API needs, on werkzeug alone.

A node daemon serves a handful of JSON endpoints (:mod:`.admin`). Flask imports Jinja2,
itsdangerous, blinker and click whatever the app uses: about 6 MB of RSS in every node
daemon's worker (bench/footprint.py), a sixth of the config manager's. Here: routes with
``<name>`` path parameters, one JSON error shape for 404/405/500, HEAD and OPTIONS as Flask
answers them, and werkzeug's request and response objects. The master, a real web
application with a UI, keeps Flask.

A handler takes the request and the path parameters as keyword arguments, and returns a
:class:`Response`, a JSON-able body (200), or ``(body, status)``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

__all__ = ["App", "Request", "Response", "Routes", "json_error", "json_response"]

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
Guard = Callable[[Request], Response | None]


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as compact JSON in the order given (what Flask's ``jsonify`` sent)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"
    return Response(text, status=status, mimetype="application/json")


def json_error(status: int, message: str, **extra: Any) -> Response:
    """The one error shape of every modelfleet HTTP API."""
    return json_response({"error": message, **extra}, status)


@dataclass(frozen=True)
class _Rule:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    guard: Guard | None


class Routes:
    """A set of endpoints (what a Flask blueprint was): ``@routes.get("/x/<name>")``."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, str, Handler]] = []

    def route(self, method: str, rule: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.rules.append((method, rule, handler))
            return handler

        return add

    def get(self, rule: str) -> Callable[[Handler], Handler]:
        return self.route("GET", rule)

    def post(self, rule: str) -> Callable[[Handler], Handler]:
        return self.route("POST", rule)

    def delete(self, rule: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", rule)


def _compile(rule: str) -> re.Pattern[str]:
    """``/a/<name>`` → a pattern whose group ``name`` is one non-empty path segment."""
    parts = re.split(r"<([A-Za-z_]\w*)>", rule)
    text = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(f"{text}\\Z")


class App:
    """A WSGI application of mounted :class:`Routes`.

    A path no rule matches answers 404 and a method its rules lack 405, both before any guard
    runs (as Flask's blueprint ``before_request`` hooks did); a guard (the cluster token
    check) runs before every handler of its mount and answers instead when it returns a
    response. An exception in a handler is logged and answers 500 in the JSON shape.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._rules: list[_Rule] = []

    def mount(self, prefix: str, routes: Routes, guard: Guard | None = None) -> None:
        for method, rule, handler in routes.rules:
            self._rules.append(_Rule(method, _compile(prefix + rule), handler, guard))

    def _match(self, path: str) -> list[tuple[_Rule, dict[str, str]]]:
        found = []
        for rule in self._rules:
            m = rule.pattern.match(path)
            if m is not None:
                found.append((rule, m.groupdict()))
        return found

    def dispatch(self, request: Request) -> Response:
        matches = self._match(request.path)
        if not matches:
            return json_error(404, f"no such endpoint: {request.method} {request.path}")
        method = "GET" if request.method == "HEAD" else request.method
        allowed = sorted({r.method for r, _ in matches} | {"OPTIONS"})
        if "GET" in allowed:
            allowed = sorted({*allowed, "HEAD"})
        if method == "OPTIONS":
            return Response(status=200, headers={"Allow": ", ".join(allowed)})
        for rule, params in matches:
            if rule.method == method:
                if rule.guard is not None:
                    refused = rule.guard(request)
                    if refused is not None:
                        return refused
                try:
                    return _to_response(rule.handler(request, **params))
                except Exception:
                    log.exception("handler failed", extra={"path": request.path})
                    return json_error(500, "internal error")
        refused = json_error(405, f"method {request.method} not allowed on {request.path}")
        refused.headers["Allow"] = ", ".join(allowed)
        return refused

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self.dispatch(Request(environ))
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def test_client(self) -> Any:
        """werkzeug's test client (``get``, ``post``, ``open`` → ``status_code``,
        ``get_json()``, ``data``), as Flask's ``test_client`` gave."""
        from werkzeug.test import Client

        return Client(self)


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        body, status = result
        if isinstance(body, Response):
            body.status_code = status
            return body
        return json_response(body, status)
    return json_response(result)
