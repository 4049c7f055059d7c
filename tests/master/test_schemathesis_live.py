"""The schemathesis command line against the master the production way (gunicorn), with
simulated nodes registered: every check, every phase (coverage, fuzzing, stateful)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.helpers import make_token_file
from tests.support.nodesim import NodeSim, free_port

from .conftest import MODEL, publish
from .test_live import LiveMaster

pytestmark = pytest.mark.slow


def test_schemathesis_cli_every_check_against_gunicorn(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    for v in (1, 2, 3):
        publish(bucket, MODEL, v)
    files = {n: tmp_path / f"{n}.token" for n in ("admin", "readonly", "node-key")}
    tokens = {n: make_token_file(p) for n, p in files.items()}
    port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
        "REMOTE_MODEL_DIRECTORY": str(bucket),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(files["admin"]),
        "MODELFLEET_READONLY_TOKEN_FILE": str(files["readonly"]),
        "MODELFLEET_NODE_KEY_FILE": str(files["node-key"]),
        "MODELFLEET_NODE_PORTS": f"remote_model_puller={sim_port},config_manager={sim_port}",
        "MODELFLEET_FANOUT_DEADLINE": "1",
        "MODELFLEET_STATUS_CACHE_SECONDS": "0",
    }
    master = LiveMaster(f"http://127.0.0.1:{port}", env, tokens, files, tmp_path / "state")
    master.start()
    sim = NodeSim(tokens["node-key"])
    try:
        for i, version in enumerate(("2", "2", "1")):
            sim.register(
                sim.add_host(i, sim_port, zone=f"z{i}", models={MODEL: {version: "AVAILABLE"}}),
                master.url,
            )
        requests.post(
            f"{master.url}/api/v1/models/{MODEL}/promote",
            json={"version": 2},
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=10,
        ).raise_for_status()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{master.url}/api/v1/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {tokens['admin']}",
                "--max-examples",
                "30",
                "--generation-deterministic",
                "--suppress-health-check",
                "all",
            ],
            env={**os.environ, "NO_COLOR": "1"},
            cwd=tmp_path,  # its cache (.schemathesis/) stays out of the checkout
            capture_output=True,
            text=True,
            timeout=600,
        )
        summary = result.stdout[result.stdout.find("SUMMARY") :]
        assert result.returncode == 0, result.stdout[-6000:]
        assert "passed" in summary and "failure" not in summary, summary
    finally:
        sim.close()
        master.stop()
    lines = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["status"] < 500 for line in lines)
