"""The chaos suite's fleet: 4 nodes in 2 zones, a GCS emulator behind a fault proxy, DNS.

One fleet serves the whole module (starting 4 dev servers with TensorFlow costs ~1 min on 2
cores). Each scenario runs under steady Predict load through the killswitch client, while an
invariant watcher scans every node's model directory and TF Serving status; the figures of
each scenario go to ``chaos-report.json`` and a printed table.

Two callers share the load, at the same rate, through the same faults: the caller of
:mod:`modelfleet.loadgen.predictor` (one channel, gRPC's round_robin, a retry of UNAVAILABLE
on another node) and the baseline (:mod:`.baseline`: a channel per node, hand-written round
robin, no retry), so every figure comes with the baseline of the same run.

The fleet's DNS name (a dnsmasq on loopback, :mod:`modelfleet.localfleet.dns`) answers every
node; the dev servers cap connection age like the tfserving role does, so planned drains move
traffic.

Timings are scaled for a test run, not for production: poll interval 1 s, killswitch window
5 s and open time 5 s (the RUNBOOK's caller uses 60 s), connection age 3 s (30 s in the role).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from modelfleet.loadgen import run_load
from modelfleet.loadgen.predictor import Predictor
from modelfleet.localfleet.dns import LocalDNS
from modelfleet.localfleet.drain import node_request_count
from modelfleet.localfleet.fleet import Fleet, FleetSpec, NodeSpec
from modelfleet.store import MANIFEST_NAME, open_store, publish
from modelfleet.tfserving.client import TFServingClient
from modelfleet.tfserving.errors import TFServingError
from modelfleet.tfserving.metrics import MetricsError
from tests.support.faultproxy import FaultProxy
from tests.support.helpers import free_loopback_subnet, free_port, port_open, wait_until

from .baseline import BaselinePredictor

pytestmark = pytest.mark.chaos

MODEL = "linear"
REPORT = Path(os.environ.get("MODELFLEET_CHAOS_REPORT", "chaos-report.json"))
BUCKET = "modelfleet-chaos"
CONNECTION_AGE_MS = 3000
CONNECTION_AGE_GRACE_MS = 1000


# ----- invariant watcher -----------------------------------------------------------------


class InvariantWatcher:
    """Scans every node, many times a second, for broken invariants.

    1. a version directory under LOCAL/<model>/ that is partial (missing manifest, a file
       missing or of the wrong size) — TF Serving must never be able to see one;
    2. a version TF Serving reports AVAILABLE or LOADING whose directory is gone.
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.partial: list[str] = []
        self.deleted_while_serving: list[str] = []
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self._clients = {n.name: TFServingClient(n.grpc_target, timeout=1.0) for n in fleet}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for client in self._clients.values():
            client.close()

    def check_dir(self, version_dir: Path) -> str | None:
        manifest = version_dir / MANIFEST_NAME
        try:
            doc = json.loads(manifest.read_text())
        except FileNotFoundError:
            return "no manifest"
        except (OSError, ValueError) as exc:
            return f"unreadable manifest: {exc}"
        for entry in doc.get("files", []):
            path = version_dir / entry["path"]
            try:
                if path.stat().st_size != entry["size"]:
                    return f"{entry['path']} has the wrong size"
            except FileNotFoundError:
                return f"{entry['path']} missing"
        return None

    def scan(self) -> None:
        for node in self.fleet:
            models = self.fleet.node_dir(node) / "models"
            for model_dir in models.iterdir() if models.exists() else []:
                if model_dir.name.startswith(".") or not model_dir.is_dir():
                    continue
                for version_dir in model_dir.iterdir():
                    problem = self.check_dir(version_dir)
                    # A directory removed between listing and checking is a deletion, not a
                    # partial version: re-check that it still exists before blaming it.
                    if problem and version_dir.exists():
                        self.partial.append(f"{node.name}:{version_dir.name}: {problem}")
            try:
                statuses = self._clients[node.name].status(MODEL, timeout=0.5)
            except TFServingError:
                continue
            for status in statuses:
                if status.state in ("AVAILABLE", "LOADING"):
                    path = models / MODEL / str(status.version)
                    if not path.exists():
                        self.deleted_while_serving.append(f"{node.name}:{status.version}")
        self.scans += 1

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.scan()
            except OSError:
                continue


# ----- load --------------------------------------------------------------------------------


class _Load:
    """One caller in a thread: ``run_load`` at ``rate`` until stopped.

    64 workers: at 40 calls/s a call may take 1.6 s (its 1 s deadline and then some on a
    loaded 2-core machine) before the generator itself has to drop calls; dropped calls count
    against success, so the generator must measure the fleet, not its own thread pool.
    """

    def __init__(self, predictor: Any, rate: float) -> None:
        self.predictor = predictor
        self.rate = rate
        self.stop = threading.Event()
        self.result: Any = None
        self.thread = threading.Thread(target=self._go, name="load", daemon=True)

    def _go(self) -> None:
        self.result = run_load(
            self.predictor,
            rate=self.rate,
            duration=3600,
            concurrency=64,
            stop=self.stop,
            trips=self.predictor.trips,
        )

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join(timeout=30)
        self.predictor.close()
        data = self.result.to_dict()
        return {
            "success_pct": data["success_pct"],
            "calls": data["sent"],
            "failed": data["sent"] - data["outcomes"].get("ok", 0),
            "dropped": data["dropped"],
            "killswitch_trips": data["killswitch_trips"],
            "outcomes": data["outcomes"],
            "p99_ms": data["latency_ms"]["p99"],
        }


class SteadyLoad:
    """Predict calls at ``rate``/s from the caller and, unless ``baseline=False``, from the
    baseline caller at the same rate; killswitch scaled to the test (5 s window, 5 s open).

    ``target``: what the caller dials (default: every node's address, a static list; a
    drain scenario gives the fleet's DNS name). The baseline always gets the address list.
    """

    def __init__(
        self,
        fleet: Fleet,
        rate: float = 40.0,
        *,
        target: str | None = None,
        baseline: bool = True,
    ) -> None:
        addresses = [n.grpc_target for n in fleet]
        switch = {"window_seconds": 5.0, "min_requests": 20, "open_seconds": 5.0}
        self.loads = {
            "caller": _Load(
                Predictor(
                    target or addresses,
                    model=MODEL,
                    inputs={"x": [1.0, 2.0]},
                    timeout=1.0,
                    **switch,
                ),
                rate,
            )
        }
        if baseline:
            self.loads["baseline"] = _Load(
                BaselinePredictor(addresses, model=MODEL, inputs={"x": [1.0, 2.0]}, **switch),
                rate,
            )
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> SteadyLoad:
        for load in self.loads.values():
            load.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        results = {name: load.finish() for name, load in self.loads.items()}
        self.figures = dict(results["caller"])
        if "baseline" in results:
            base = results["baseline"]
            self.figures.update(
                {
                    "baseline_success_pct": base["success_pct"],
                    "baseline_calls": base["calls"],
                    "baseline_failed": base["failed"],
                    "baseline_dropped": base["dropped"],
                    "baseline_killswitch_trips": base["killswitch_trips"],
                }
            )


def request_counts(fleet: Fleet) -> dict[str, int]:
    """Every node's TF Serving request count (its own metrics page); -1 when unreadable."""
    counts = {}
    for node in fleet:
        try:
            counts[node.name] = node_request_count(fleet, node, timeout=1.0)
        except MetricsError:
            counts[node.name] = -1
    return counts


# ----- the fleet ---------------------------------------------------------------------------


@dataclass
class ChaosFleet:
    fleet: Fleet
    proxy: FaultProxy
    emulator_port: int
    store_url: str
    work: Path
    watcher: InvariantWatcher
    dns: LocalDNS
    report: list[dict[str, Any]] = field(default_factory=list)
    next_version: int = 2
    small_disk: bool = False

    @property
    def nodes(self) -> list[NodeSpec]:
        return self.fleet.spec.nodes

    def store(self) -> Any:
        """The bucket as the publisher sees it: straight to the emulator, no fault proxy."""
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.emulator_port}"
        return open_store(self.store_url)

    def master(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        token = self.fleet.token("admin")
        return requests.request(
            method,
            f"{self.fleet.spec.master_url}/api/v1{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
            **kwargs,
        )

    def serving(self, node: NodeSpec) -> list[int]:
        """Versions of MODEL that ``node``'s TF Serving reports AVAILABLE ([] if down)."""
        try:
            with TFServingClient(node.grpc_target, timeout=1.0) as client:
                return [s.version for s in client.status(MODEL) if s.state == "AVAILABLE"]
        except TFServingError:
            return []

    def wait_serving(
        self, version: int, nodes: list[NodeSpec] | None = None, timeout: float = 120.0
    ) -> float:
        started = time.monotonic()
        for node in nodes or self.nodes:
            wait_until(
                lambda n=node: version in self.serving(n),
                timeout=timeout,
                what=f"{MODEL}/{version} AVAILABLE on {node.name}",
            )
        return time.monotonic() - started

    def restart_node(self, node: NodeSpec) -> None:
        for role in ("tfserving", "remote_model_puller", "config_manager"):
            proc = self.fleet.find(role, node.name)
            if proc is None or not proc.alive():
                self.fleet.start_node_service(node, role)

    def record(self, name: str, **figures: Any) -> dict[str, Any]:
        entry = {
            "scenario": name,
            **figures,
            "partial_versions_seen": len(self.watcher.partial),
            "deleted_while_serving": len(self.watcher.deleted_while_serving),
        }
        self.report.append(entry)
        REPORT.write_text(json.dumps(self.report, indent=2) + "\n")
        return entry


def _emulator(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    return subprocess.Popen(
        [
            binary,
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "-q",
            "--default-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _print_report(report: list[dict[str, Any]]) -> None:
    cols = [
        "scenario",
        "success_pct",
        "baseline_success_pct",
        "killswitch_trips",
        "recovery_s",
        "models_lost",
        "partial_versions_seen",
        "deleted_while_serving",
    ]
    print("\nchaos report")
    print("  ".join(f"{c:>22}" if i else f"{c:<28}" for i, c in enumerate(cols)))
    for row in report:
        cells = []
        for i, col in enumerate(cols):
            value = row.get(col, "-")
            text = f"{value:.2f}" if isinstance(value, float) else str(value)
            cells.append(f"{text:>22}" if i else f"{text:<28}")
        print("  ".join(cells))


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosFleet]:
    pytest.importorskip("tensorflow")
    from modelfleet.localfleet.samplemodel import build_linear_model

    root = tmp_path_factory.mktemp("chaosfleet")
    emulator_port = free_port()
    emulator = _emulator(emulator_port)
    wait_until(lambda: port_open("127.0.0.1", emulator_port), 30, what="GCS emulator")
    proxy = FaultProxy(("127.0.0.1", emulator_port))
    subnet = free_loopback_subnet()  # other checkouts may run their own chaos fleet
    spec = FleetSpec.default(
        root, nodes=4, zones=2, subnet=subnet, master_port=8080, poll_interval=1.0
    )
    spec.connection_age_ms = CONNECTION_AGE_MS
    spec.connection_age_grace_ms = CONNECTION_AGE_GRACE_MS
    spec.remote = f"gs://{BUCKET}/models"
    spec.gcs_emulator_port = proxy.port  # every daemon reaches the bucket through the proxy
    for node in spec.nodes:
        node.env.update({"MODELFLEET_DISK_RESERVE_MB": "1", "MODELFLEET_LOG_LEVEL": "INFO"})
    fleet = Fleet(spec, tied=True)
    fleet.prepare()
    dns = LocalDNS(root, name="logginrec.localfleet", address=f"{subnet}.253", ttl=1)
    ctx = ChaosFleet(
        fleet, proxy, emulator_port, spec.remote, root / "work", InvariantWatcher(fleet), dns
    )
    small = fleet.node_dir(spec.nodes[2]) / "models"
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(small)],
            capture_output=True,
            check=False,
        )
        ctx.small_disk = mounted.returncode == 0
    try:
        v1 = build_linear_model(ctx.work / "v1", 2.0, 1.0)
        publish(ctx.store(), v1, MODEL, 1)
        fleet.up()
        fleet.wait_ports(timeout=180)
        ctx.wait_serving(1, timeout=180)
        dns.start([n.address for n in spec.nodes])
        ctx.watcher.start()
        yield ctx
    finally:
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(emulator.wait, timeout=10)
            cleanup.callback(emulator.terminate)
            cleanup.callback(proxy.close)
            if ctx.small_disk:
                cleanup.callback(subprocess.run, ["umount", "-l", str(small)], check=False)
            cleanup.callback(fleet.down)
            cleanup.callback(dns.stop)
            cleanup.callback(_print_report, ctx.report)
            cleanup.callback(ctx.watcher.stop)
