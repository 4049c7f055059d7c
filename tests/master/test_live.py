"""The master the production way (``modelfleet master run`` → gunicorn) with simulated nodes:
the operator CLI, a restart that keeps the registry, and the dashboard in headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from modelfleet.cli import cli
from tests.support.helpers import make_token_file, port_open, wait_until
from tests.support.nodesim import NodeSim, SimHost, free_port

from .conftest import MODEL

# Real processes (gunicorn, dev servers, browsers): kept out of `make test-fast`.
pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"


@dataclass
class LiveMaster:
    url: str
    env: dict[str, str]
    tokens: dict[str, str]
    token_files: dict[str, Path]
    state_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "modelfleet"), "master", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        port = int(self.url.rsplit(":", 1)[1])
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, what="master port")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.stderr:
                self.proc.stderr.close()

    def get(self, path: str, role: str = "readonly") -> requests.Response:
        return requests.get(
            self.url + path, timeout=10, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveMaster, NodeSim, list[SimHost]]]:
    tmp = tmp_path_factory.mktemp("live")
    from .conftest import publish

    bucket = tmp / "bucket"
    for v in (1, 2, 3):
        publish(bucket, MODEL, v)
    token_files = {n: tmp / f"{n}.token" for n in ("admin", "readonly", "node-key")}
    tokens = {n: make_token_file(p) for n, p in token_files.items()}
    port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_STATE_DIR": str(tmp / "state"),
        "REMOTE_MODEL_DIRECTORY": str(bucket),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(token_files["admin"]),
        "MODELFLEET_READONLY_TOKEN_FILE": str(token_files["readonly"]),
        "MODELFLEET_NODE_KEY_FILE": str(token_files["node-key"]),
        "MODELFLEET_NODE_PORTS": f"remote_model_puller={sim_port},config_manager={sim_port}",
        "MODELFLEET_FANOUT_DEADLINE": "1",
        "MODELFLEET_STATUS_CACHE_SECONDS": "0",
        "MODELFLEET_HEARTBEAT_INTERVAL": "60",
    }
    master = LiveMaster(f"http://127.0.0.1:{port}", env, tokens, token_files, tmp / "state")
    master.start()
    sim = NodeSim(tokens["node-key"])
    zones = ["zone1", "zone1", "zone2", "zone2", "zone3", "zone3"]
    hosts = [
        sim.add_host(i, sim_port, zone=z, models={MODEL: {"3": "AVAILABLE"}})
        for i, z in enumerate(zones)
    ]
    sim.register_all(master.url)
    # desired state: serve 3 (generation-preconditioned write through the master)
    r = requests.post(
        f"{master.url}/api/v1/models/{MODEL}/promote",
        json={"version": 3},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    yield master, sim, hosts
    sim.close()
    master.stop()


def run_cli(master: LiveMaster, *args: str, role: str = "admin") -> tuple[int, str]:
    env = {
        "MODELFLEET_MASTER_URL": master.url,
        "MODELFLEET_TOKEN_FILE": str(master.token_files[role]),
        "MODELFLEET_CONFIG": "/nonexistent/cli.json",
    }
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_read_commands(live: tuple[LiveMaster, NodeSim, list[SimHost]]) -> None:
    master, _, hosts = live
    code, out = run_cli(master, "status")
    assert code == 0, out
    assert "triage: healthy" in out and hosts[0].hostname in out and "zone3" in out
    code, out = run_cli(master, "status", "--json")
    assert code == 0 and json.loads(out)["summary"]["hosts"] == 6
    code, out = run_cli(master, "nodes", role="readonly")
    assert code == 0 and out.count("remote_model_puller") == 6
    code, out = run_cli(master, "models")
    assert code == 0 and MODEL in out and "stable=3" in out
    code, out = run_cli(master, "models", MODEL, "--json")
    assert [v["version"] for v in json.loads(out)["bucket_versions"]] == [1, 2, 3]
    code, out = run_cli(master, "triage")
    assert code == 0 and out.startswith("HEALTHY")


def test_cli_edits_and_exit_codes(live: tuple[LiveMaster, NodeSim, list[SimHost]]) -> None:
    master = live[0]
    code, out = run_cli(master, "label", MODEL, "canary", "2")
    assert code == 0 and "canary" in out and "6/6 pullers woken" in out
    code, out = run_cli(master, "label", MODEL, "canary", "--remove")
    assert code == 0
    code, out = run_cli(master, "promote", MODEL, "9")
    assert code == 1 and "not published" in out
    code, out = run_cli(master, "promote", MODEL, "2", role="readonly")
    assert code == 4
    code, out = run_cli(master, "promote", MODEL, "2", "--if-generation", "999999")
    assert code == 1 and "generation" in out
    code, out = run_cli(master, "sync", "--zone", "zone2")
    assert code == 0 and "2/2 ok" in out
    code, out = run_cli(master, "reload", "--zone", "bad zone")
    assert code == 2
    code, out = run_cli(master, "audit", "--json")
    assert any(e["action"] == "label" for e in json.loads(out)["entries"])
    env = {
        "MODELFLEET_MASTER_URL": f"http://127.0.0.1:{free_port()}",
        "MODELFLEET_TOKEN_FILE": str(master.token_files["admin"]),
    }
    result = CliRunner().invoke(cli, ["triage"], env=env)
    assert result.exit_code == 3 and "not an outage" in result.output


def test_cli_drain_and_maintenance(live: tuple[LiveMaster, NodeSim, list[SimHost]]) -> None:
    master, _, hosts = live
    code, out = run_cli(master, "drain-check", "zone1")  # 4 of 6 = 67 % < 75 %
    assert code == 1 and "REFUSED" in out and "75% required" in out
    code, out = run_cli(master, "drain-check", "zone1", "--min-share", "0.6")
    assert code == 0 and "ALLOWED" in out
    code, out = run_cli(master, "maintenance", "set", "--zone", "zone3", "--reason", "kernel")
    assert code == 0
    code, out = run_cli(master, "drain-check", "zone1", "--min-share", "0.1", "--json")
    assert code == 1 and "zone3" in " ".join(json.loads(out)["reasons"])
    code, out = run_cli(master, "maintenance", "show")
    assert "zone3" in out and "kernel" in out
    code, out = run_cli(master, "maintenance", "clear", "--zone", "zone3")
    assert code == 0
    # triage exit codes follow the RUNBOOK tree
    hosts[1].tfserving_up = False
    code, out = run_cli(master, "triage")
    assert code == 11 and hosts[1].hostname in out
    hosts[2].tfserving_up = False
    assert run_cli(master, "triage")[0] == 12
    hosts[1].tfserving_up = hosts[2].tfserving_up = True


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_dashboard_in_headless_chromium(
    live: tuple[LiveMaster, NodeSim, list[SimHost]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    master, _, hosts = live
    assert run_cli(master, "promote", MODEL, "3")[0] == 0
    hosts[4].models = {MODEL: {"2": "AVAILABLE"}}  # drift
    hosts[5].tfserving_up = False  # down on one node
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            context = browser.new_context(
                http_credentials={"username": "alice", "password": master.tokens["readonly"]},
                viewport={"width": 1400, "height": 900},
            )
            page = context.new_page()
            page.goto(master.url + "/")
            page.wait_for_selector("#nodes tbody tr")
            triage = page.locator("#triage")
            assert triage.get_attribute("data-verdict") == "outage_single_node"
            assert hosts[5].hostname in page.locator("#triage-summary").inner_text()
            assert page.locator("#nodes tbody tr").count() == 6
            assert (
                page.locator(f'tr[data-host="{hosts[5].hostname}"]')
                .get_attribute("class")
                .startswith("down")
            )
            assert page.locator("#nodes td.drift").count() == 1
            # it refreshes itself
            hosts[5].tfserving_up = True
            page.wait_for_function(
                "document.getElementById('triage').dataset.verdict !== 'outage_single_node'",
                timeout=15000,
            )
            hosts[5].tfserving_up = False
            page.wait_for_function(
                "document.getElementById('triage').dataset.verdict === 'outage_single_node'",
                timeout=15000,
            )
            shot = Path(os.environ.get("MODELFLEET_SCREENSHOT_DIR", tmp_path)) / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            browser.close()
    finally:
        hosts[4].models = {MODEL: {"3": "AVAILABLE"}}
        hosts[5].tfserving_up = True


def _raw(master: LiveMaster, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library tidying them) and read the answer."""
    port = int(master.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_gunicorn_refusals_are_json_and_audited(
    live: tuple[LiveMaster, NodeSim, list[SimHost]],
) -> None:
    """gunicorn answers these itself (they never reach the app): a request line over its
    limit (414), a malformed request line (400), too many header fields (431)."""
    master = live[0]
    cases = [
        (b"GET /api/v1/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v1/nodes HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        (b"GET /api/v1/nodes HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431),
    ]
    for request, status in cases:
        code, headers, body = _raw(master, request)
        assert code == status, (code, body[:200])
        assert headers["content-type"] == "application/json"
        assert isinstance(json.loads(body)["error"], str)
    entries = master.get("/api/v1/audit").json()["entries"]
    assert [e["status"] for e in entries if e["action"] == "refused:http"][-3:] == [414, 400, 431]


def test_body_limit_under_gunicorn(live: tuple[LiveMaster, NodeSim, list[SimHost]]) -> None:
    master = live[0]
    resp = requests.post(
        f"{master.url}/api/v1/models/{MODEL}/promote",
        data=b'{"version": 3, "x": "' + b"x" * (50 << 20) + b'"}',
        headers={
            "Authorization": f"Bearer {master.tokens['admin']}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert resp.status_code == 413 and "larger than" in resp.json()["error"]
    assert (master.state_dir / "audit.jsonl").stat().st_size < 1 << 20


def test_restart_keeps_registry(live: tuple[LiveMaster, NodeSim, list[SimHost]]) -> None:
    master, _, hosts = live
    master.get("/api/v1/maintenance")
    requests.post(
        master.url + "/api/v1/maintenance",
        json={"node": hosts[0].hostname, "enabled": True},
        headers={"Authorization": f"Bearer {master.tokens['admin']}"},
        timeout=10,
    )
    master.stop()
    master.start()
    # before any node re-registers (heartbeat interval is 60 s in this test)
    nodes = master.get("/api/v1/nodes").json()["nodes"]
    assert len(nodes) == 12 and not any(n["stale"] for n in nodes)
    assert master.get("/api/v1/maintenance").json()["nodes"].keys() == {hosts[0].hostname}
    assert master.get("/api/v1/cluster/status").json()["summary"]["hosts"] == 6


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_cross_origin_form_is_refused_in_chromium(
    live: tuple[LiveMaster, NodeSim, list[SimHost]], tmp_path: Path
) -> None:
    """The CSRF of the issue, replayed in a real browser: the operator is logged in to the
    dashboard (HTTP Basic, admin token), then opens a page on another origin that auto-submits
    ``<form method=POST action=http://master/api/v1/models/M/retire>`` and fires a no-cors
    fetch with a text/plain body. The browser sends the form with the operator's credentials
    (the audit log shows who=admin); the master refuses both and the model stays served."""
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    master = live[0]
    evil = (
        f"<html><body><form id=f method=POST action='{master.url}/api/v1/models/{MODEL}/retire'>"
        "<input name=retired value=true></form>"
        f"<script>fetch('{master.url}/api/v1/models/{MODEL}/rollback', "
        "{method: 'POST', mode: 'no-cors', "
        "credentials: 'include', body: '{}', headers: {'Content-Type': 'text/plain'}})"
        ".finally(() => document.getElementById('f').submit());</script></body></html>"
    )

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = evil.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    evil_port = free_port("127.0.0.2")
    server = http.server.HTTPServer(("127.0.0.2", evil_port), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = master.get(f"/api/v1/models/{MODEL}").json()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(
                http_credentials={"username": "alice", "password": master.tokens["admin"]}
            )
            page = context.new_page()
            page.goto(master.url + "/dashboard")  # logged in: the dashboard works
            page.wait_for_selector("#nodes tbody tr")
            with page.expect_navigation(url=f"{master.url}/api/v1/models/{MODEL}/retire"):
                page.goto(f"http://127.0.0.2:{evil_port}/")
            shown = page.locator("body").inner_text()
            assert "cross-site request refused" in shown, shown
            browser.close()
    finally:
        server.shutdown()
    after = master.get(f"/api/v1/models/{MODEL}").json()
    assert after["desired"] == before["desired"] and after["desired"]["retired"] is False
    entries = master.get("/api/v1/audit?limit=50").json()["entries"]
    refused = [e for e in entries if e["status"] == 403 and "cross-site" in e["error"]]
    form = {e["who"] for e in refused if e["path"] == f"/api/v1/models/{MODEL}/retire"}
    assert form == {"admin"}  # the browser sent the form with the operator's credentials
