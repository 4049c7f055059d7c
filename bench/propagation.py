"""Publish → AVAILABLE on every node of a local fleet: master push vs polling alone.

Goal (issue 6): with the master's "sync now" push, a 10-node fleet serves a new version in
at most 1.2x the time one node takes. Both figures come from this run: a 1-node fleet and a
10-node fleet, each timed over several publishes, first with the push
(``POST /api/v1/cluster/sync`` right after the publish), then with polling alone (the
production poll interval, 10 s). Dev servers run in load-only mode (``--mode
no-tensorflow``) so the figure is the control plane's, not TensorFlow's load time.

    python -m bench.propagation [--quick]
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


def wait_all(
    clients: dict[str, TFServingClient], version: int, started: float, timeout: float = 60
) -> list[float]:
    """Seconds from ``started`` until each node reports ``version`` AVAILABLE.

    The clients are connected before the publish, so the figure is the fleet's, not the
    cost of opening gRPC channels.
    """
    times: dict[str, float] = {}

    def watch(name: str, client: TFServingClient) -> None:
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                states = client.status(MODEL)
            except TFServingError:
                states = []
            if any(s.version == version and s.state == "AVAILABLE" for s in states):
                times[name] = time.monotonic() - started
                return
            time.sleep(0.005)

    threads = [threading.Thread(target=watch, args=item) for item in clients.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(times) != len(clients):
        raise RuntimeError(f"version {version} not AVAILABLE everywhere within {timeout}s")
    return list(times.values())


def measure(
    nodes: int, trials: int, subnet: str, load_delay: float = 0.0
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-prop-{nodes}-") as tmp:
        root = Path(tmp)
        spec = FleetSpec.default(
            root, nodes=nodes, zones=2, subnet=subnet, master_port=8080, poll_interval=10.0
        )
        spec.devserver_mode = "no-tensorflow"
        spec.devserver_args = ["--load-delay", str(load_delay)]
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
            clients = {n.name: TFServingClient(n.grpc_target, timeout=1.0) for n in fleet}
            out: dict[str, list[float]] = {"push": [], "poll": []}
            version = 0
            for mode in ("warmup", "push", "poll"):
                for _ in range(1 if mode == "warmup" else trials):
                    version += 1
                    src = fake_savedmodel(root / "src" / str(version), version)
                    started = time.monotonic()
                    publish(store, src, MODEL, version)
                    if mode != "poll":
                        session.post(f"{spec.master_url}/api/v1/cluster/sync", json={}, timeout=10)
                    took = max(wait_all(clients, version, started))
                    if mode != "warmup":
                        out[mode].append(took)
            for client in clients.values():
                client.close()
            return out
        finally:
            fleet.down()


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Two settings of the dev server's model load time.

    With a 1 s load (what TF Serving needs for a small real SavedModel) each node spends its
    time waiting, as on a real fleet where every node has its own CPUs: the ratio shows
    whether the control plane serialises anything. With no load time, 10 nodes' worth of
    daemons share this machine's 2 cores and the ratio shows that contention (info only).
    """
    trials = 2 if quick else 4
    big = 4 if quick else 10
    records: list[dict[str, Any]] = []
    for delay, goal in ((1.0, 1.2), (0.0, None)):
        one = measure(1, trials, "127.0.4", delay)
        fleet = measure(big, trials, "127.0.5", delay)
        one_push = statistics.median(one["push"])
        fleet_push = statistics.median(fleet["push"])
        fleet_poll = statistics.median(fleet["poll"])
        tag = f"load_{delay:g}s"
        records.append(
            {
                "name": f"propagation_push_{big}_nodes_vs_1_node_{tag}",
                "value": round(fleet_push, 3),
                "unit": "s",
                "baseline": round(one_push, 3),
                "ratio": round(fleet_push / one_push, 2),
                "goal": f"<= {goal}" if goal else "info (2 shared cores)",
                "pass": fleet_push / one_push <= goal if goal else True,
            }
        )
        records.append(
            {
                "name": f"propagation_poll_only_{big}_nodes_vs_push_{tag}",
                "value": round(fleet_poll, 3),
                "unit": "s",
                "baseline": round(fleet_push, 3),
                "ratio": round(fleet_poll / fleet_push, 2),
                "goal": "info (push speed-up)",
                "pass": True,
            }
        )
    return records


if __name__ == "__main__":
    for record in run(quick="--quick" in sys.argv):
        print(record)
