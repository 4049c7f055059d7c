"""The TLS option end to end: the master and a node admin API served over HTTPS by the roles'
own nginx front, certificates from a fleet CA (made here with openssl, as an operator would).

What must hold: a node registers with the master over HTTPS, verifying it against the fleet CA
(``MODELFLEET_MASTER_CA_FILE``); the master calls the node over HTTPS, verifying the node's
certificate for the node's name against the same CA (``MODELFLEET_NODE_CA_FILE``); a peer
whose certificate the fleet CA did not sign gets nothing — the handshake fails before any
request, so no token is ever sent to it — and the failure is named where an operator looks.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from modelfleet.tokens import node_token
from tests.support.front import NGINX, Front, FrontSpec
from tests.support.helpers import free_port, make_token_file, serving_process, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian nginx not installed"),
]

EXE = str(Path(sys.executable).parent / "modelfleet")
HOST = "127.0.0.1"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: Path, name: str) -> tuple[Path, Path]:
    """A CA (cert, key), the way the RUNBOOK's TLS section has an operator make one."""
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def make_host_cert(d: Path, ca: tuple[Path, Path], name: str) -> tuple[str, str]:
    """A host certificate for 127.0.0.1 signed by ``ca``: (cert path, key path)."""
    key, csr, cert, ext = (d / f"{name}{s}" for s in (".key", ".csr", ".pem", ".ext"))
    ext.write_text(f"subjectAltName=IP:{HOST},DNS:localhost\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={HOST}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    return str(cert), str(key)


@contextmanager
def tls_front(
    prefix: Path, name: str, port: int, upstream: int, cert: tuple[str, str]
) -> Iterator[Front]:
    spec = FrontSpec(
        name, f"{HOST}:{port}", f"{HOST}:{upstream}", tls=True, tls_cert=cert[0], tls_key=cert[1]
    )
    front = Front(prefix, spec)
    front.start()
    try:
        yield front
    finally:
        front.stop()


def _get(url: str, token: str, cafile: Path) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    ctx = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        return json.loads(resp.read())


def test_master_and_node_talk_only_over_verified_tls(tmp_path: Path) -> None:
    fleet_ca = make_ca(tmp_path, "fleet-ca")
    rogue_ca = make_ca(tmp_path, "rogue-ca")
    master_cert = make_host_cert(tmp_path, fleet_ca, "master")
    node_cert = make_host_cert(tmp_path, fleet_ca, "node")
    rogue_cert = make_host_cert(tmp_path, rogue_ca, "rogue")
    tokens = {n: make_token_file(tmp_path / f"{n}.token") for n in ("admin", "readonly", "key")}
    for sub in ("bucket", "local", "master-state", "node-state"):
        (tmp_path / sub).mkdir()
    master_app, master_port, node_app, node_port = (free_port() for _ in range(4))
    master_env = {
        **os.environ,
        "MODELFLEET_BIND": f"{HOST}:{master_app}",
        "MODELFLEET_STATE_DIR": str(tmp_path / "master-state"),
        "REMOTE_MODEL_DIRECTORY": str(tmp_path / "bucket"),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(tmp_path / "admin.token"),
        "MODELFLEET_READONLY_TOKEN_FILE": str(tmp_path / "readonly.token"),
        "MODELFLEET_NODE_KEY_FILE": str(tmp_path / "key.token"),
        "MODELFLEET_TRUSTED_PROXIES": HOST,
        "MODELFLEET_NODE_PORTS": f"remote_model_puller={node_port}",
        "MODELFLEET_NODE_CA_FILE": str(fleet_ca[0]),
        "MODELFLEET_STALE_AFTER": "30",
        "MODELFLEET_LOG_LEVEL": "INFO",
    }
    make_token_file(tmp_path / "node.token", node_token(tokens["key"], HOST))
    node_env = {
        **os.environ,
        "HOSTNAME": HOST,
        "LOCAL_MODEL_DIRECTORY": str(tmp_path / "local"),
        "REMOTE_MODEL_DIRECTORY": str(tmp_path / "bucket"),
        "MODELFLEET_STATE_DIR": str(tmp_path / "node-state"),
        "MODELFLEET_BIND": f"{HOST}:{node_app}",
        "MODELFLEET_ADVERTISE_PORT": str(node_port),
        "MODELFLEET_MASTER_URL": f"https://{HOST}:{master_port}",
        "MODELFLEET_MASTER_CA_FILE": str(fleet_ca[0]),
        "MODELFLEET_CLUSTER_TOKEN_FILE": str(tmp_path / "node.token"),
        "MODELFLEET_HEARTBEAT_INTERVAL": "0.5",
        "MODELFLEET_LOG_LEVEL": "INFO",
    }
    master_url = f"https://{HOST}:{master_port}"
    readonly = tokens["readonly"]

    def status() -> dict[str, Any]:
        doc = _get(f"{master_url}/api/v1/cluster/status?fresh=true", readonly, fleet_ca[0])
        return next((h for h in doc["hosts"] if h["hostname"] == HOST), {})

    def puller_view() -> dict[str, Any]:
        return status().get("services", {}).get("remote_model_puller", {})

    with (
        serving_process([EXE, "master", "run"], master_env, master_app, tmp_path / "master.log"),
        tls_front(tmp_path / "front-master", "master", master_port, master_app, master_cert),
        serving_process([EXE, "puller", "run"], node_env, node_app, tmp_path / "node.log"),
    ):
        # The node registers over HTTPS (verifying the master against the fleet CA) ...
        with tls_front(tmp_path / "front-node", "puller", node_port, node_app, node_cert):
            wait_until(lambda: puller_view().get("ok") is True, timeout=60, what="node called")
            view = puller_view()
            assert view["url"].startswith("https://"), view
        # ... and a node front whose certificate the fleet CA did not sign is not talked to.
        with tls_front(tmp_path / "front-rogue", "puller", node_port, node_app, rogue_cert):
            wait_until(lambda: puller_view().get("ok") is False, timeout=60, what="call refused")
            assert "certificate" in puller_view()["error"].lower(), puller_view()

        # Plain HTTP to a TLS port is refused by the front, never passed to gunicorn.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{HOST}:{master_port}/healthz", timeout=5).read()

    # A node that does not trust the master's certificate never registers, and says why.
    rogue_trust = {**node_env, "MODELFLEET_MASTER_CA_FILE": str(rogue_ca[0])}
    rogue_trust["MODELFLEET_STATE_DIR"] = str(tmp_path / "rogue-state")
    fresh_master = {**master_env, "MODELFLEET_STATE_DIR": str(tmp_path / "master2-state")}
    for sub in ("rogue-state", "master2-state"):
        (tmp_path / sub).mkdir()
    with (
        serving_process([EXE, "master", "run"], fresh_master, master_app, tmp_path / "master2.log"),
        tls_front(tmp_path / "front-master2", "master", master_port, master_app, master_cert),
        serving_process([EXE, "puller", "run"], rogue_trust, node_app, tmp_path / "node2.log"),
    ):

        def register_error() -> str:
            return (tmp_path / "node2.log").read_text()

        wait_until(
            lambda: "CERTIFICATE_VERIFY_FAILED" in register_error(), timeout=30, what="refusal"
        )
        assert "certificate" in register_error().lower()
        nodes = _get(f"{master_url}/api/v1/nodes", readonly, fleet_ca[0])["nodes"]
        assert [n for n in nodes if n["hostname"] == HOST and not n["stale"]] == [], nodes
        log = register_error()
        assert tokens["key"] not in log and node_token(tokens["key"], HOST) not in log
