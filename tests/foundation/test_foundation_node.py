"""Health heartbeats + healthcheck exit codes, registration backoff, admin app auth."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter

from modelfleet.cli import cli
from modelfleet.node.admin import create_node_app
from modelfleet.node.health import HealthFile, check_health
from modelfleet.node.registration import Registrar
from modelfleet.node.web import Routes
from tests.support.helpers import free_port, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_health_verdicts(tmp_path: Path) -> None:
    assert not check_health(tmp_path, "svc").healthy  # no file yet
    clock = Clock()
    health = HealthFile(tmp_path, "svc", clock=clock)
    health.beat("sync", max_age=30)
    assert check_health(tmp_path, "svc", now=1010).healthy
    verdict = check_health(tmp_path, "svc", now=1031)
    assert not verdict.healthy and "silent" in verdict.reason
    health.beat("sync", ok=False, detail="bucket down")
    verdict = check_health(tmp_path, "svc", now=1001)
    assert not verdict.healthy and "bucket down" in verdict.reason
    (tmp_path / "health" / "svc.json").write_text("{broken")
    assert "unreadable" in check_health(tmp_path, "svc").reason


def test_healthcheck_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["healthcheck", "svc", "--state-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "UNHEALTHY" in missing.output
    HealthFile(tmp_path, "svc").beat("sync")
    ok = runner.invoke(cli, ["healthcheck", "svc", "--state-dir", str(tmp_path), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["healthy"] is True
    HealthFile(tmp_path, "svc").beat("sync", ok=False, detail="x")
    bad = runner.invoke(cli, ["healthcheck", "svc"], env={"MODELFLEET_STATE_DIR": str(tmp_path)})
    assert bad.exit_code == 1


class _Master(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"registered": true, "maintenance": false}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def master() -> Iterator[tuple[str, type[_Master]]]:
    handler = type("Master", (_Master,), {"calls": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _registrar(url: str, **kw: Any) -> Registrar:
    return Registrar(
        master_url=url,
        token="t" * 20,
        hostname="node1",
        service="remote_model_puller",
        port=8001,
        zone="zone1",
        **kw,
    )


def test_registration_payload_and_heartbeat(master: tuple[str, type[_Master]]) -> None:
    url, handler = master
    reg = _registrar(url, interval=0.05)
    reg.start()
    try:
        wait_until(lambda: len(handler.calls) >= 3, timeout=10, what="heartbeats")
    finally:
        reg.stop()
    call = handler.calls[0]
    assert call["path"] == "/api/v1/nodes/register"
    assert call["auth"] == "Bearer " + "t" * 20
    assert {k: call[k] for k in ("hostname", "service", "port", "zone")} == {
        "hostname": "node1",
        "service": "remote_model_puller",
        "port": 8001,
        "zone": "zone1",
    }
    assert reg.registered and reg.next_delay() == 0.05


def test_registration_backoff_then_recovery(master: tuple[str, type[_Master]]) -> None:
    reg = _registrar(f"http://127.0.0.1:{free_port()}", interval=1.0, max_backoff=8.0)
    delays = []
    for _ in range(8):
        assert reg.register_once() is False
        delays.append(reg.next_delay())
    assert "unreachable" in reg.last_error and reg.failures == 8
    assert all(d <= 8.0 for d in delays) and max(delays) > 1.0  # grows, capped, jittered
    url, handler = master
    handler.status = 503
    reg.master_url = url
    assert reg.register_once() is False and "503" in reg.last_error
    handler.status = 200
    assert reg.register_once() is True and reg.failures == 0 and reg.next_delay() == 1.0


def test_registrar_without_master_url_does_nothing() -> None:
    reg = _registrar("")
    reg.start()
    assert reg._thread is None


class _Daemon:
    service = "testsvc"

    def __init__(self, state: Path) -> None:
        self.registry = CollectorRegistry()
        self.health = HealthFile(state, self.service)
        Counter("modelfleet_test_things_total", "things", registry=self.registry).inc()
        self.is_ready = False

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ready(self) -> tuple[bool, str]:
        return self.is_ready, "ok" if self.is_ready else "warming up"

    def blueprint(self) -> Routes:
        api = Routes()
        api.get("/thing")(lambda _request: {"ok": True})
        return api


def test_admin_app_auth_and_probes(tmp_path: Path) -> None:
    daemon = _Daemon(tmp_path)
    token = "s" * 24
    client = create_node_app(daemon, token, daemon.blueprint()).test_client()
    assert client.get("/healthz").status_code == 503
    daemon.health.beat("loop")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    daemon.is_ready = True
    assert client.get("/readyz").get_json()["ready"] is True
    assert b"modelfleet_test_things_total 1.0" in client.get("/metrics").data
    assert client.get("/api/v1/thing").status_code == 401
    assert client.get("/api/v1/thing", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        client.get("/api/v1/thing", headers={"Authorization": f"Basic {token}"}).status_code == 401
    )
    ok = client.get("/api/v1/thing", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.get_json() == {"ok": True}
    missing = client.get("/api/v1/none", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and "error" in missing.get_json()
    assert client.delete("/healthz").status_code == 405
    idle = _Daemon(tmp_path)
    closed = create_node_app(idle, None, idle.blueprint()).test_client()
    resp = closed.get("/api/v1/thing", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 503 and "no cluster token" in resp.get_json()["error"]
