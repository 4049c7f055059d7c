"""Desired-state changes while a 1 GiB pull is in flight, against the same change without.

A local fleet (2 nodes, load-only dev servers) pulls from the GCS emulator behind the fault
proxy, every connection capped at 16 MiB/s, so a 1 GiB version takes a while to arrive, as
it does from a real bucket. Two figures, each the median of a few trials, each trial timed
from the master's answer to the change until every node has converged:

- **rollback**: the node serves v1, v2 is on disk (retention), an operator promotes v2 — with
  no pull in flight (baseline), and while every node is pulling the 1 GiB v3 of the same
  model that was promoted a moment before (the obsolete pull must be cancelled, and v2
  served without waiting for it). Converged = TF Serving serves exactly v2 and the puller
  has no pull of the model left.
- **promote another model**: model A's new (small) version is published and promoted — with
  no pull in flight (baseline), and while model B's 1 GiB pull runs on every node.
  Converged = TF Serving serves exactly A's new version.

Goal for both: at most 1.5x the baseline. Before concurrent, cancellable pulls the in-flight
figures were the length of the 1 GiB pull.

    python -m bench.preemption [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench.pull import MiB, emulator, make_tree, new_bucket, proxy_process
from modelfleet.localfleet.fleet import Fleet, FleetSpec
from modelfleet.store import open_store, publish
from modelfleet.tfserving.client import TFServingClient
from modelfleet.tfserving.errors import TFServingError

PER_CONNECTION_MIB = 16


class Bench:
    def __init__(self, fleet: Fleet, url: str, work: Path) -> None:
        self.fleet = fleet
        self.store = open_store(url)
        self.work = work
        self.master = fleet.spec.master_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {fleet.token('admin')}"
        self.cluster = requests.Session()
        self.clients = [TFServingClient(n.grpc_target, timeout=1.0) for n in fleet]
        self.pullers = [
            (
                f"http://{n.address}:8001/api/v1/status",
                {"Authorization": f"Bearer {fleet.node_token(n)}"},
            )
            for n in fleet
        ]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def publish(self, model: str, version: int, size: int = 0) -> None:
        files = {"variables/variables.data-00000-of-00001": size} if size else {}
        src = make_tree(self.work / f"src-{model}-{version}", files)
        publish(self.store, src, model, version, workers=8)

    def promote(self, model: str, version: int) -> float:
        """Promote through the master (which pushes "sync now"); the time it answered."""
        resp = self.session.post(
            f"{self.master}/api/v1/models/{model}/promote", json={"version": version}, timeout=30
        )
        resp.raise_for_status()
        return time.monotonic()

    def serving(self, model: str) -> list[list[int]]:
        out = []
        for client in self.clients:
            try:
                rows = client.status(model)
            except TFServingError:
                rows = []
            out.append(sorted(r.version for r in rows if r.state == "AVAILABLE"))
        return out

    def pulls(self, model: str) -> list[dict[str, Any]]:
        found = []
        for url, headers in self.pullers:
            body = self.cluster.get(url, headers=headers, timeout=5).json()
            found += [p for p in body["pulls"] if p["model"] == model]
        return found

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.01)
        return time.monotonic()

    def serves_exactly(self, model: str, version: int) -> bool:
        return all(s == [version] for s in self.serving(model))

    def pulling(self, model: str) -> bool:
        """Every node is mid-way through a pull of ``model`` (bytes are arriving)."""
        pulls = self.pulls(model)
        nodes = len(self.pullers)
        return len(pulls) == nodes and all(p["bytes_done"] > 0 for p in pulls)


def measure(quick: bool) -> dict[str, list[float]]:
    big = (256 if quick else 1024) * MiB
    trials = 1 if quick else 3
    out: dict[str, list[float]] = {k: [] for k in ("rb0", "rb1", "pr0", "pr1")}
    with tempfile.TemporaryDirectory(prefix="bench-preempt-") as tmp, emulator() as endpoint:
        work = Path(tmp)
        url = new_bucket()
        with proxy_process(endpoint, mode="pass", bandwidth_mib=PER_CONNECTION_MIB) as port:
            spec = FleetSpec.default(
                work / "fleet", nodes=2, zones=2, subnet="127.0.7", master_port=8080
            )
            spec.remote = url
            spec.gcs_emulator_port = port  # the nodes' bucket: capped connections
            spec.devserver_mode = "no-tensorflow"
            fleet = Fleet(spec, tied=True)
            bench = None
            try:
                fleet.up()
                fleet.wait_ports(timeout=300)
                bench = Bench(fleet, url, work)
                b = bench
                b.publish("m", 1)
                b.publish("m", 2)
                b.publish("a", 1)
                b.publish("big", 1)
                b.promote("a", 1)
                b.promote("big", 1)
                b.promote("m", 2)
                b.wait(lambda: b.serves_exactly("m", 2), "m/2 served")
                b.wait(lambda: b.serves_exactly("a", 1) and b.serves_exactly("big", 1), "setup")
                big_version = 1
                for trial in range(trials):
                    # Rollback, baseline: serve v1, then promote v2 (on disk).
                    b.promote("m", 1)
                    b.wait(lambda: b.serves_exactly("m", 1), "m/1 served")
                    t = b.promote("m", 2)
                    out["rb0"].append(b.wait(lambda: b.serves_exactly("m", 2), "rb0") - t)
                    # Rollback during the 1 GiB pull of v3 of the same model.
                    b.promote("m", 1)
                    b.wait(lambda: b.serves_exactly("m", 1), "m/1 served")
                    b.publish("m", 3 + trial, big)
                    b.promote("m", 3 + trial)
                    b.wait(lambda: b.pulling("m"), "m pull in flight")
                    t = b.promote("m", 2)
                    done = b.wait(lambda: b.serves_exactly("m", 2), "rb1")
                    b.wait(lambda: not b.pulls("m"), "obsolete pull cancelled")
                    out["rb1"].append(done - t)
                    # Promote of model a, baseline then during big's 1 GiB pull.
                    b.publish("a", 2 * trial + 2)
                    t = b.promote("a", 2 * trial + 2)
                    pr0 = b.wait(lambda v=2 * trial + 2: b.serves_exactly("a", v), "pr0") - t
                    out["pr0"].append(pr0)
                    big_version += 1
                    b.publish("big", big_version, big)
                    b.promote("big", big_version)
                    b.wait(lambda: b.pulling("big"), "big pull in flight")
                    b.publish("a", 2 * trial + 3)
                    t = b.promote("a", 2 * trial + 3)
                    pr1 = b.wait(lambda v=2 * trial + 3: b.serves_exactly("a", v), "pr1") - t
                    out["pr1"].append(pr1)
                    still = bool(b.pulls("big"))
                    print(
                        f"trial {trial}: rollback {out['rb0'][-1]:.2f}s / {out['rb1'][-1]:.2f}s "
                        f"with pull; promote a {pr0:.2f}s / {pr1:.2f}s with pull "
                        f"(big still pulling after: {still})",
                        file=sys.stderr,
                    )
                    b.promote("big", 1)  # cancels big's pull before the next trial
                    b.wait(lambda: not b.pulls("big"), "big pull cancelled")
            finally:
                if bench is not None:
                    bench.close()
                fleet.down()
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    times = measure(quick)
    size = "256MiB" if quick else "1GiB"
    records = []
    for name, ours, base in (
        (f"rollback_during_{size}_pull_same_model_vs_no_pull", "rb1", "rb0"),
        (f"promote_model_a_during_{size}_pull_of_b_vs_no_pull", "pr1", "pr0"),
    ):
        value, baseline = statistics.median(times[ours]), statistics.median(times[base])
        ratio = value / baseline
        records.append(
            {
                "name": name,
                "value": round(value, 3),
                "unit": "s",
                "baseline": round(baseline, 3),
                "ratio": round(ratio, 2),
                "goal": "<= 1.5",
                "pass": ratio <= 1.5,
            }
        )
    return records


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
