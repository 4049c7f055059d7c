"""Publish → AVAILABLE on every node of a local fleet: master push vs polling alone.

Goal (issue 6): with the master's "sync now" push, a 10-node fleet serves a new version in
at most 1.2x the time one node takes. Both figures come from this run: a 1-node fleet and a
10-node fleet, each timed over several publishes, first with the push
(``POST /api/v1/cluster/sync`` right after the publish), then with polling alone (the
production poll interval, 10 s). Dev servers run in load-only mode (``--mode
no-tensorflow``) so the figure is the control plane's, not TensorFlow's load time.

    python bench/propagation.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from modelfleet.localfleet.fleet import Fleet, FleetSpec
from modelfleet.store import open_store, publish
from modelfleet.tfserving.client import TFServingClient
from modelfleet.tfserving.errors import TFServingError

MODEL = "bench"


def fake_savedmodel(path: Path, version: int) -> Path:
    (path / "variables").mkdir(parents=True, exist_ok=True)
    (path / "saved_model.pb").write_bytes(b"modelfleet bench %d " % version * 64)
    (path / "variables" / "variables.index").write_bytes(b"i" * 1024)
    return path


def wait_all(fleet: Fleet, version: int, started: float, timeout: float = 60) -> list[float]:
    """Seconds from ``started`` until each node reports ``version`` AVAILABLE."""
    times: dict[str, float] = {}

    def watch(node: Any) -> None:
        client = TFServingClient(node.grpc_target, timeout=1.0)
        deadline = started + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    states = client.status(MODEL)
                except TFServingError:
                    states = []
                if any(s.version == version and s.state == "AVAILABLE" for s in states):
                    times[node.name] = time.monotonic() - started
                    return
                time.sleep(0.02)
        finally:
            client.close()

    threads = [threading.Thread(target=watch, args=(n,)) for n in fleet]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(times) != len(fleet.spec.nodes):
        raise RuntimeError(f"version {version} not AVAILABLE everywhere within {timeout}s")
    return list(times.values())


def measure(nodes: int, trials: int, subnet: str) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-prop-{nodes}-") as tmp:
        root = Path(tmp)
        spec = FleetSpec.default(
            root, nodes=nodes, zones=2, subnet=subnet, master_port=8080, poll_interval=10.0
        )
        spec.devserver_mode = "no-tensorflow"
        fleet = Fleet(spec, tied=True)
        try:
            fleet.up()
            fleet.wait_ports(timeout=300)
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {fleet.token('admin')}"
            deadline = time.monotonic() + 120
            while (
                len(session.get(f"{spec.master_url}/api/v1/nodes", timeout=5).json()["nodes"])
                < 2 * nodes
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("nodes did not register")
                time.sleep(0.2)
            store = open_store(spec.remote)
            out: dict[str, list[float]] = {"push": [], "poll": []}
            version = 0
            for mode in ("push", "poll"):
                for _ in range(trials):
                    version += 1
                    src = fake_savedmodel(root / "src" / str(version), version)
                    started = time.monotonic()
                    publish(store, src, MODEL, version)
                    if mode == "push":
                        session.post(f"{spec.master_url}/api/v1/cluster/sync", json={}, timeout=10)
                    out[mode].append(max(wait_all(fleet, version, started)))
            return out
        finally:
            fleet.down()


def run(quick: bool = False) -> list[dict[str, Any]]:
    trials = 2 if quick else 4
    big = 4 if quick else 10
    one = measure(1, trials, "127.0.4")
    fleet = measure(big, trials, "127.0.5")
    one_push = statistics.median(one["push"])
    fleet_push = statistics.median(fleet["push"])
    fleet_poll = statistics.median(fleet["poll"])
    return [
        {
            "name": f"propagation_push_{big}_nodes_vs_1_node",
            "value": round(fleet_push, 3),
            "unit": "s",
            "baseline": round(one_push, 3),
            "ratio": round(fleet_push / one_push, 2),
            "goal": "<= 1.2",
            "pass": fleet_push / one_push <= 1.2,
        },
        {
            "name": f"propagation_poll_only_{big}_nodes_vs_push",
            "value": round(fleet_poll, 3),
            "unit": "s",
            "baseline": round(fleet_push, 3),
            "ratio": round(fleet_poll / fleet_push, 2),
            "goal": "info (push speed-up)",
            "pass": True,
        },
    ]


if __name__ == "__main__":
    for record in run(quick="--quick" in sys.argv):
        print(record)
