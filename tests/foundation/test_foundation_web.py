"""The node admin APIs' small WSGI layer (modelfleet.node.web): what Flask used to answer."""

from __future__ import annotations

from typing import Any

from modelfleet.node.web import App, Request, Routes, json_error


def _app() -> Any:
    api = Routes()
    calls: list[str] = []

    @api.get("/items/<name>")
    def item(request: Request, name: str) -> Any:
        return {"name": name, "q": request.args.get("q")}

    @api.delete("/items/<name>/<version>")
    def drop(_request: Request, name: str, version: str) -> Any:
        return {"dropped": [name, version]}, 202

    @api.post("/boom")
    def boom(_request: Request) -> Any:
        raise RuntimeError("secret detail")

    @api.get("/refused")
    def refused(_request: Request) -> Any:
        return json_error(409, "no", why="because")

    def guard(request: Request) -> Any:
        calls.append(request.path)
        return None if request.headers.get("X-Ok") else json_error(401, "who are you")

    app = App("t")
    app.mount("/api", api, guard=guard)
    return app.test_client(), calls


def test_routes_parameters_and_statuses() -> None:
    client, _calls = _app()
    ok = {"X-Ok": "1"}
    got = client.get("/api/items/a%20b?q=1", headers=ok)
    assert got.status_code == 200 and got.get_json() == {"name": "a b", "q": "1"}
    assert got.mimetype == "application/json"
    dropped = client.delete("/api/items/m/3", headers=ok)
    assert dropped.status_code == 202 and dropped.get_json() == {"dropped": ["m", "3"]}
    refused = client.get("/api/refused", headers=ok)
    assert refused.status_code == 409 and refused.get_json() == {"error": "no", "why": "because"}


def test_unknown_paths_and_methods_answer_before_the_guard() -> None:
    client, calls = _app()
    missing = client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "no such endpoint: GET /api/nothing"}
    assert client.get("/api/items/a/b").status_code == 405  # only DELETE there
    wrong = client.post("/api/items/a")
    assert wrong.status_code == 405 and "not allowed" in wrong.get_json()["error"]
    assert "GET" in wrong.headers["Allow"] and "HEAD" in wrong.headers["Allow"]
    assert calls == []  # the guard never ran for a request no handler would take
    assert client.get("/api/items/a").status_code == 401
    assert calls == ["/api/items/a"]


def test_head_options_and_a_failing_handler() -> None:
    client, _calls = _app()
    head = client.head("/api/items/a", headers={"X-Ok": "1"})
    assert head.status_code == 200 and head.data == b""
    options = client.options("/api/items/a")
    assert options.status_code == 200 and "GET" in options.headers["Allow"]
    boom = client.post("/api/boom", headers={"X-Ok": "1"})
    assert boom.status_code == 500 and boom.get_json() == {"error": "internal error"}
    assert b"secret" not in boom.data
