"""The master with real node daemons under gunicorn: the real puller registers, the master
reads its status and wakes it with "sync now" after a promote; real config managers and dev
servers report what TF Serving serves, and the master's guards act on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from modelfleet.store import LocalStore
from modelfleet.store import publish as st_publish
from modelfleet.tokens import node_token
from tests.support.helpers import make_token_file, wait_until
from tests.support.nodesim import free_port

from .conftest import MODEL
from .test_live import LiveMaster

# Real processes (gunicorn, dev servers, browsers): kept out of `make test-fast`.
pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).parent / "modelfleet")


def test_real_puller_registers_and_syncs_on_promote(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "saved_model.pb").write_bytes(b"model bytes")
    store = LocalStore(bucket)
    for v in (1, 2):
        st_publish(store, src, MODEL, v)  # real manifest with real crc32c
    files = {n: tmp_path / f"{n}.token" for n in ("admin", "readonly", "node-key")}
    tokens = {n: make_token_file(p) for n, p in files.items()}
    files["node"] = tmp_path / "node.token"  # the puller's own, issued from the node key
    make_token_file(files["node"], node_token(tokens["node-key"], "127.0.1.9"))
    mport, pport = free_port(), free_port("127.0.1.9")
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{mport}",
        "MODELFLEET_STATE_DIR": str(tmp_path / "mstate"),
        "REMOTE_MODEL_DIRECTORY": str(bucket),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(files["admin"]),
        "MODELFLEET_READONLY_TOKEN_FILE": str(files["readonly"]),
        "MODELFLEET_NODE_KEY_FILE": str(files["node-key"]),
        "MODELFLEET_NODE_PORTS": f"remote_model_puller={pport}",
        "MODELFLEET_STATUS_CACHE_SECONDS": "0",
    }
    master = LiveMaster(f"http://127.0.0.1:{mport}", env, tokens, files, tmp_path / "mstate")
    master.start()
    local = tmp_path / "local"
    local.mkdir()
    penv = {
        **os.environ,
        "HOSTNAME": "127.0.1.9",
        "LOCAL_MODEL_DIRECTORY": str(local),
        "REMOTE_MODEL_DIRECTORY": str(bucket),
        "MODELFLEET_STATE_DIR": str(tmp_path / "pstate"),
        "MODELFLEET_BIND": f"127.0.1.9:{pport}",
        "MODELFLEET_MASTER_URL": master.url,
        "MODELFLEET_CLUSTER_TOKEN_FILE": str(files["node"]),
        "MODELFLEET_ZONE": "zone1",
        "MODELFLEET_POLL_INTERVAL": "300",  # only "sync now" can make it pull quickly
        "MODELFLEET_HEARTBEAT_INTERVAL": "1",
    }
    (tmp_path / "pstate").mkdir()
    puller = subprocess.Popen(
        [EXE, "puller", "run"], env=penv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(
            lambda: master.get("/api/v1/nodes").json()["count"] == 1,
            timeout=30,
            what="puller registration",
        )
        node = master.get("/api/v1/nodes").json()["nodes"][0]
        assert (node["hostname"], node["service"], node["port"]) == (
            "127.0.1.9",
            "remote_model_puller",
            pport,
        )
        wait_until(lambda: (local / MODEL / "2").is_dir(), timeout=30, what="first pull")
        status = master.get("/api/v1/cluster/status").json()
        svc = status["hosts"][0]["services"]["remote_model_puller"]
        assert svc["ok"], svc
        r = requests.post(
            f"{master.url}/api/v1/models/{MODEL}/promote",
            json={"version": 1},
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["sync"]["ok"] == 1, r.text
        # with a 300 s poll interval, only the master's "sync now" makes this happen quickly
        wait_until(lambda: (local / MODEL / "1").is_dir(), timeout=30, what="sync-now pull")
    finally:
        puller.send_signal(signal.SIGTERM)
        puller.wait(30)
        master.stop()


def test_real_config_manager_and_devserver(tmp_path: Path) -> None:
    """Two real nodes (puller + config manager + dev server) under a real master.

    The master's cluster status shows what TF Serving really serves on each node; reload fans
    out to the config managers; a served version cannot be deleted; retire empties the fleet.
    """
    from modelfleet.localfleet.fleet import Fleet, FleetSpec

    spec = FleetSpec.default(
        tmp_path / "fleet",
        nodes=2,
        zones=2,
        subnet="127.0.6",
        master_port=free_port(),
        poll_interval=1.0,
    )
    spec.master_address = "127.0.0.1"
    spec.devserver_mode = "no-tensorflow"  # load-only dev servers: no TensorFlow in this test
    fleet = Fleet(spec, tied=True)
    src = tmp_path / "src"
    src.mkdir()
    (src / "saved_model.pb").write_bytes(b"model bytes")
    fleet.prepare()
    store = LocalStore(Path(spec.remote))
    st_publish(store, src, MODEL, 1)
    headers = {"Authorization": f"Bearer {fleet.token('admin')}"}

    def api(method: str, path: str, **kw: object) -> requests.Response:
        return requests.request(
            method, f"{spec.master_url}/api/v1{path}", headers=headers, timeout=20, **kw
        )

    def serving() -> dict[str, list[int]]:
        hosts = api("GET", "/cluster/status", params={"fresh": "true"}).json()["hosts"]
        return {h["hostname"]: h["serving"].get(MODEL, []) for h in hosts}

    try:
        fleet.up()
        fleet.wait_ports(timeout=120)
        wait_until(lambda: len(api("GET", "/nodes").json()["nodes"]) == 4, 60, what="registry")
        wait_until(lambda: serving() == {n.address: [1] for n in fleet}, 60, what="v1 served")
        st_publish(store, src, MODEL, 2)
        r = api("POST", f"/models/{MODEL}/promote", json={"version": 2})
        assert r.status_code == 200, r.text
        wait_until(lambda: serving() == {n.address: [2] for n in fleet}, 60, what="v2 served")
        status = api("GET", "/cluster/status", params={"fresh": "true"}).json()
        assert status["triage"]["verdict"] == "healthy", status["triage"]
        assert all(h["state"] == "healthy" for h in status["hosts"]), status["hosts"]
        reload = api("POST", "/cluster/reload", json={}).json()
        assert reload["ok"] == 2 and reload["failed"] == {}, reload
        refused = api("DELETE", f"/models/{MODEL}/versions/2")
        assert refused.status_code == 409, refused.text
        assert (Path(spec.remote) / MODEL / "2" / "saved_model.pb").exists()
        assert api("POST", f"/models/{MODEL}/retire", json={}).status_code == 200
        wait_until(lambda: serving() == {n.address: [] for n in fleet}, 60, what="retired")
        wait_until(
            lambda: not any((fleet.node_dir(n) / "models" / MODEL / "2").exists() for n in fleet),
            60,
            what="retired model's files freed on every node",
        )
    finally:
        fleet.down()
