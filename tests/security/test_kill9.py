"""kill -9 of the master (gunicorn arbiter and worker at once) loses no acknowledged change:
every registration and maintenance flag that was answered 200 is there after the restart,
before any node heartbeats again. Figure: acknowledged changes lost after kill -9: 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.helpers import free_port, make_token_file, port_open, wait_until
from tests.support.nodesim import NodeSim

pytestmark = pytest.mark.slow


def test_kill_9_loses_no_acknowledged_change(tmp_path: Path) -> None:
    tokens = {
        n: make_token_file(tmp_path / f"{n}.token") for n in ("admin", "readonly", "node-key")
    }
    (tmp_path / "bucket").mkdir()
    port, node_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
        "REMOTE_MODEL_DIRECTORY": str(tmp_path / "bucket"),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(tmp_path / "admin.token"),
        "MODELFLEET_READONLY_TOKEN_FILE": str(tmp_path / "readonly.token"),
        "MODELFLEET_NODE_KEY_FILE": str(tmp_path / "node-key.token"),
        "MODELFLEET_NODE_PORTS": f"remote_model_puller={node_port},config_manager={node_port}",
        "MODELFLEET_HEARTBEAT_INTERVAL": "600",
    }
    exe = [str(Path(sys.executable).parent / "modelfleet"), "master", "run"]
    url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    read = {"Authorization": f"Bearer {tokens['readonly']}"}

    def start() -> subprocess.Popen[bytes]:
        with open(tmp_path / "master.log", "ab") as log:
            proc = subprocess.Popen(
                exe, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: port_open("127.0.0.1", port), timeout=60, what="master")
        return proc

    proc = start()
    acknowledged_nodes: set[str] = set()
    acknowledged_flags: set[str] = set()
    sim = NodeSim(tokens["node-key"])
    try:
        for i in range(20):
            host = sim.add_host(i, node_port, zone=f"z{i % 4}")
            sim.register(host, url)  # raises unless 200
            acknowledged_nodes.add(host.hostname)
            if i % 5 == 0:
                r = requests.post(
                    f"{url}/api/v1/maintenance",
                    json={"node": host.hostname, "enabled": True},
                    headers=admin,
                    timeout=10,
                )
                assert r.status_code == 200
                acknowledged_flags.add(host.hostname)
        os.killpg(proc.pid, signal.SIGKILL)  # no graceful flush of anything
        proc.wait(10)
        # The worker dies a moment after the arbiter and holds the listening socket until it
        # does: a restart before that would see the old socket answer, then vanish.
        wait_until(lambda: not port_open("127.0.0.1", port), timeout=30, what="old master gone")
        proc = start()
        nodes = requests.get(f"{url}/api/v1/nodes", headers=read, timeout=10).json()["nodes"]
        flags = requests.get(f"{url}/api/v1/maintenance", headers=read, timeout=10).json()["nodes"]
        lost = (acknowledged_nodes - {n["hostname"] for n in nodes}) | (
            acknowledged_flags - set(flags)
        )
        assert lost == set()  # FIGURE: acknowledged changes lost after kill -9
        assert all(n["service"] for n in nodes) and len(nodes) == 2 * len(acknowledged_nodes)
    finally:
        sim.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
