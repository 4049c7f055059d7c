"""The quarantine across the fleet: master fan-out and ``modelfleet quarantine list|clear``.

Two real config managers (in-process, each with its own dev server) serve their admin API on
their own loopback address over real HTTP; a real master (served too) fans out to them; the
CLI talks to the master as an operator would.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.serving import BaseWSGIServer, make_server

from modelfleet.cli import cli
from modelfleet.configmanager.api import blueprint
from modelfleet.master import create_app
from modelfleet.node.admin import create_node_app
from modelfleet.tokens import node_token
from tests.configmanager.cmnode import Node, install, write_desired
from tests.master.conftest import make_settings
from tests.support.helpers import free_port, make_token_file, wait_until


def _serve(app: Any, host: str, port: int) -> BaseWSGIServer:
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Fleet:
    def __init__(self, tmp: Path) -> None:
        self.tokens = {
            n: make_token_file(tmp / f"{n}.token") for n in ("admin", "readonly", "node-key")
        }
        self.admin_file = tmp / "admin.token"
        bucket = tmp / "bucket"
        bucket.mkdir()
        port = free_port()  # both nodes' config managers, each on its own address
        ports = {"remote_model_puller": 8001, "config_manager": port}
        self.master = create_app(
            {"SETTINGS": make_settings(tmp, self.tokens, bucket, node_ports=ports), "TESTING": True}
        )
        self.client = self.master.test_client()
        self.servers: list[BaseWSGIServer] = []
        self.nodes: list[Node] = []
        for i in (1, 2):
            (tmp / f"n{i}").mkdir()
            node = Node(tmp / f"n{i}")
            host = f"127.0.5.{i}"
            token = node_token(self.tokens["node-key"], host)  # issued to this node
            node.settings = dataclasses.replace(node.settings, hostname=host)
            node.restart_cm()
            self.nodes.append(node)
            app = create_node_app(node.cm, token, blueprint(node.cm))
            self.servers.append(_serve(app, host, port))
            resp = self.client.post(
                "/api/v1/nodes/register",
                json={
                    "hostname": host,
                    "service": "config_manager",
                    "port": port,
                    "zone": f"zone{i}",
                },
                headers={"Authorization": f"Bearer {token}"},
                environ_base={"REMOTE_ADDR": host},  # registered from its own address
            )
            assert resp.status_code == 200, resp.json
        self.master_port = free_port()
        self.servers.append(_serve(self.master, "127.0.0.1", self.master_port))

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(
            cli,
            [
                *args,
                "--master-url",
                f"http://127.0.0.1:{self.master_port}",
                "--token-file",
                str(self.admin_file),
            ],
        )

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
        for node in self.nodes:
            node.close()
        self.master.extensions["modelfleet"].registry.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path)
    try:
        yield f
    finally:
        f.close()


def _break(node: Node) -> None:
    install(node.local, "m", 1)
    install(node.local, "m", 2, b"")  # fails to load
    write_desired(node.local, {"m": {"versions": [2], "keep": [1]}})
    node.cm.reconcile()


def test_list_and_clear_through_master_and_cli(fleet: Fleet) -> None:
    for node in fleet.nodes:
        _break(node)
    admin = {"Authorization": f"Bearer {fleet.tokens['admin']}"}
    report = fleet.client.get("/api/v1/quarantine?model=m", headers=admin).json
    assert [(e["hostname"], e["version"]) for e in report["entries"]] == [
        ("127.0.5.1", 2),
        ("127.0.5.2", 2),
    ]
    assert report["answered"] == 2 and report["failed"] == {}
    assert "DATA_LOSS" in report["entries"][0]["error"]

    shown = fleet.cli("quarantine", "list")
    assert shown.exit_code == 0, shown.output
    assert "127.0.5.1" in shown.output and "DATA_LOSS" in shown.output

    # Clear on one node only: it tries v2 again (and quarantines it again: still broken).
    cleared = fleet.cli("quarantine", "clear", "m", "2", "--node", "127.0.5.1", "--json")
    assert cleared.exit_code == 0, cleared.output
    assert '"hostname": "127.0.5.1"' in cleared.output and "127.0.5.2" not in cleared.output
    assert fleet.nodes[1].cm.quarantine.entries("m") != []
    wait_until(
        lambda: fleet.nodes[0].cm.reconcile() and fleet.nodes[0].cm.quarantine.entries("m"),
        timeout=10,
        what="v2 tried again and quarantined again on node 1",
    )

    # Clear everywhere after fixing the cause: a fixed copy of v2 is installed.
    for node in fleet.nodes:
        write_desired(node.local, {"m": {"versions": [1]}})
        wait_until(
            lambda n=node: n.cm.reconcile() and not (n.local / "m" / "2").exists(), timeout=10
        )
    done = fleet.cli("quarantine", "clear", "m")
    assert done.exit_code == 0 and "cleared 2 entries of m on 2 node(s)" in done.output
    again = fleet.cli("quarantine", "list", "m", "2")
    assert again.exit_code == 0 and "nothing quarantined (2/2 nodes answered)" in again.output


def test_bad_input_and_unanswered_nodes(fleet: Fleet) -> None:
    admin = {"Authorization": f"Bearer {fleet.tokens['admin']}"}
    for path, message in [
        ("/api/v1/quarantine?model=a%2F..", "invalid model name"),
        ("/api/v1/quarantine?model=m&version=02", "invalid version"),
    ]:
        resp = fleet.client.get(path, headers=admin)
        assert resp.status_code == 400 and message in resp.json["error"], path
    resp = fleet.client.delete("/api/v1/quarantine/m/0", headers=admin)
    assert resp.status_code == 400
    readonly = {"Authorization": f"Bearer {fleet.tokens['readonly']}"}
    assert fleet.client.delete("/api/v1/quarantine/m", headers=readonly).status_code == 403
    bad = fleet.cli("quarantine", "clear", "bad name")
    assert bad.exit_code == 2 and "invalid model name" in bad.output
    fleet.servers[0].shutdown()  # node 1's config manager stops answering
    fleet.servers[0].server_close()
    report = fleet.cli("quarantine", "list")
    assert report.exit_code == 1 and "NOT ANSWERED" in report.output
