"""A node's health gates (``modelfleet tfserving wait-ready``): the rollout's and the undrain's
check that a restarted node serves again, against a fake clock and a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelfleet.cli import cli
from modelfleet.node.gates import http_ready, models_available, wait_ready
from tests.support.helpers import free_port, make_token_file


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_gates_pass_in_order_and_report_their_seconds() -> None:
    clock = Clock()
    calls: list[str] = []

    def after(name: str, at: float) -> Any:
        def gate() -> str | None:
            calls.append(name)
            return None if clock.now >= at else f"{name} not yet"

        return gate

    result = wait_ready(
        [("tfserving", after("tfserving", 3.0)), ("models", after("models", 5.0))],
        timeout=60,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.ok and result.failed is None
    assert result.seconds["tfserving"] == pytest.approx(3.0)
    assert result.seconds["models"] == pytest.approx(2.0)
    assert calls.index("models") > calls.index("tfserving")
    assert "passed every gate" in result.describe()


def test_the_deadline_names_the_gate_and_its_last_reason() -> None:
    clock = Clock()

    def broken() -> str | None:
        raise ConnectionRefusedError("refused")

    result = wait_ready(
        [("tfserving", lambda: None), ("ready", broken)],
        timeout=10,
        clock=clock,
        sleep=clock.sleep,
    )
    assert not result.ok and result.failed == "ready"
    assert "ConnectionRefusedError: refused" in (result.reason or "")
    assert result.waited_s == pytest.approx(10.0)
    assert json.loads(json.dumps(result.to_json()))["failed"] == "ready"
    with pytest.raises(ValueError):
        wait_ready([], timeout=0)


class _Handler(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, Any]] = {}
    seen_auth: list[str | None] = []

    def do_GET(self) -> None:  # http.server's name for a GET handler
        self.seen_auth.append(self.headers.get("Authorization"))
        status, body = self.answers.get(self.path, (404, {"error": "no"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.answers = {}
    _Handler.seen_auth = []
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _models(loaded: list[dict[str, Any]], reachable: bool = True) -> dict[str, Any]:
    return {
        "tfserving": {"target": "127.0.0.1:8500", "reachable": reachable},
        "models": {"ranker": {"desired": [2, 3], "loaded": loaded}},
    }


def test_http_gates_against_a_real_server(server: str, tmp_path: Path) -> None:
    _Handler.answers["/readyz"] = (503, {"ready": False, "why": "first pass"})
    assert "did not answer /readyz" in (http_ready("config_manager", server + "/readyz")() or "")
    _Handler.answers["/readyz"] = (200, {"ready": True})
    assert http_ready("config_manager", server + "/readyz")() is None

    token = make_token_file(tmp_path / "cluster.token")
    gate = models_available(server + "/api/v1/models", lambda: token)
    _Handler.answers["/api/v1/models"] = (200, _models([], reachable=False))
    assert "does not reach TF Serving" in (gate() or "")
    _Handler.answers["/api/v1/models"] = (200, _models([{"version": 2, "state": "AVAILABLE"}]))
    assert gate() == "not AVAILABLE in TF Serving yet: ranker/3"
    _Handler.answers["/api/v1/models"] = (
        200,
        _models([{"version": 2, "state": "AVAILABLE"}, {"version": 3, "state": "AVAILABLE"}]),
    )
    assert gate() is None
    assert f"Bearer {token}" in _Handler.seen_auth
    _Handler.answers["/api/v1/models"] = (200, {"tfserving": {"reachable": True}, "models": []})
    assert gate() == "config manager answered without a models object"


def test_wait_ready_command_fails_with_the_reason(server: str, tmp_path: Path) -> None:
    """Nothing answers gRPC on a free port: the command exits 1 and names the gate."""
    port = free_port()
    got = CliRunner().invoke(
        cli,
        ["tfserving", "wait-ready", "--target", f"127.0.0.1:{port}", "--timeout", "1", "--json"],
    )
    assert got.exit_code == 1, got.output
    answer = json.loads(got.output)
    assert answer["ok"] is False and answer["failed"] == "tfserving"
    assert "TF Serving does not answer" in answer["reason"]


@pytest.mark.parametrize(
    "args",
    [
        ["--ready", "no-url"],
        ["--ready", "x=ftp://h/readyz"],
        ["--models", "http://127.0.0.1:1/api/v1/models"],
    ],
)
def test_wait_ready_refuses_bad_arguments(args: list[str]) -> None:
    got = CliRunner().invoke(cli, ["tfserving", "wait-ready", *args])
    assert got.exit_code == 2
