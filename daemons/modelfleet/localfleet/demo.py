"""`make demo`: a local fleet, a real model published, served, predicted and promoted.

What a newcomer sees, step by step, is what an operator does on a real fleet: publish a
SavedModel to the bucket, watch every node pull and serve it, call it the way the RUNBOOK's
search tier does (through the killswitch client), then promote a new version through the
master and measure how long the whole fleet takes to serve it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import requests

from .fleet import Fleet, FleetError, FleetSpec, NodeSpec, Proc

__all__ = ["DemoOptions", "run_demo", "wait_for"]

MODEL = "linear"


class DemoOptions:
    def __init__(
        self,
        *,
        root: Path,
        nodes: int = 3,
        zones: int = 2,
        gcs_emulator: bool = False,
        once: bool = False,
        master_port: int | None = None,
        poll_interval: float = 10.0,
        timeout: float = 180.0,
    ) -> None:
        self.root = root
        self.nodes = nodes
        self.zones = zones
        self.gcs_emulator = gcs_emulator
        self.once = once
        self.master_port = master_port
        self.poll_interval = poll_interval
        self.timeout = timeout


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until ``predicate`` is truthy; raise FleetError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise FleetError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f": {last}" if last else "")
    )


class MasterClient:
    """The few master calls the demo makes (operator token from the fleet's 0600 file)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> Any:
        resp = self.session.get(f"{self.url}/api/v1{path}", timeout=10)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.session.post(f"{self.url}/api/v1{path}", json=body or {}, timeout=30)
        if resp.status_code >= 400:
            raise FleetError(f"master refused POST {path}: {resp.status_code} {resp.text}")
        return resp.json()


def start_gcs_emulator(fleet: Fleet) -> Proc:
    """The GCS emulator as the bucket (``--gcs-emulator``), on loopback."""
    port = 9023
    fleet.spec.gcs_emulator_port = port
    fleet.spec.remote = "gs://modelfleet-demo/models"
    emulator = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = fleet.spawn(
        "gcs",
        "bucket",
        [
            str(emulator),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "--default-bucket",
            "modelfleet-demo",
            "-q",
        ],
        env=fleet.master_env(),
    )

    def listening() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    wait_for(listening, 30, "the GCS emulator")
    return proc


def node_serves(node: NodeSpec, model: str, version: int) -> bool:
    """True when the node's TF Serving reports ``version`` AVAILABLE."""
    from ..tfserving.client import TFServingClient

    with TFServingClient(node.grpc_target, timeout=2.0) as client:
        return any(s.version == version and s.state == "AVAILABLE" for s in client.status(model))


def predict(node: NodeSpec, xs: list[float]) -> tuple[list[float], int]:
    """One Predict through the killswitch client; returns (y values, version that answered)."""
    from ..tfserving import tensor_to_list
    from ..tfserving.killswitch import KillSwitchClient

    client = KillSwitchClient(node.grpc_target)
    try:
        resp = client.predict(MODEL, {"x": xs}, timeout=2.0)
        return [float(v) for v in tensor_to_list(resp.outputs["y"])], int(
            resp.model_spec.version.value
        )
    finally:
        client.close()


def answers_with(node: NodeSpec, xs: list[float], version: int) -> bool:
    return predict(node, xs)[1] == version


# What one demo run leaves behind under its directory (tokens are kept: they are reusable).
_RUN_STATE = ("bucket", "master", "nodes", "logs", "work", "fleet.json")


def _forget_previous_run(root: Path) -> None:
    """Start every demo from an empty bucket and empty nodes, so `make demo` can be run again
    and again. Only what a fleet creates is removed, and only under a fleet's directory (one
    holding ``fleet.json``): a mistyped ``--dir`` never loses anything else."""
    if not (root / "fleet.json").is_file():
        return
    for name in _RUN_STATE:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def run_demo(opts: DemoOptions, say: Callable[[str], None] = print) -> int:
    from ..store import open_store, publish
    from .samplemodel import build_linear_model

    spec = FleetSpec.default(
        opts.root,
        opts.nodes,
        opts.zones,
        master_port=opts.master_port,
        poll_interval=opts.poll_interval,
    )
    with contextlib.suppress(FleetError):
        Fleet.load(spec.root).down()
    _forget_previous_run(spec.root)
    fleet = Fleet(spec, tied=True)
    fleet.prepare()
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if opts.gcs_emulator:
            start_gcs_emulator(fleet)
        say(f"starting a fleet of {opts.nodes} nodes + master under {spec.root}")
        fleet.up()
        fleet.wait_ports(timeout=opts.timeout)
        master = MasterClient(spec.master_url, fleet.token("admin"))
        wanted = 2 * len(spec.nodes)
        wait_for(
            lambda: len(master.get("/nodes")["nodes"]) >= wanted,
            opts.timeout,
            f"{wanted} node daemons to register with the master",
        )
        for node in spec.nodes:
            say(
                f"  {node.name}  {node.address}  {node.zone}  tfserving :8500  "
                "puller :8001  config_manager :8002"
            )
        say(f"  master  {spec.master_url}")

        work = spec.root / "work"
        say("building SavedModels with TensorFlow: v1 y = 2x + 1, v2 y = 3x + 1")
        v1 = build_linear_model(work / "linear-v1", 2.0, 1.0)
        v2 = build_linear_model(work / "linear-v2", 3.0, 1.0)
        store = open_store(spec.remote)

        started = time.monotonic()
        publish(store, v1, MODEL, 1)
        master.post(f"/models/{MODEL}/pin", {"version": 1, "pinned": True})
        say(f"published {MODEL}/1 to {spec.remote} and pinned it; waiting for every node")
        for node in spec.nodes:
            wait_for(
                partial(node_serves, node, MODEL, 1),
                opts.timeout,
                f"{MODEL}/1 AVAILABLE on {node.name}",
            )
        say(
            f"{MODEL}/1 AVAILABLE on all {len(spec.nodes)} nodes after "
            f"{time.monotonic() - started:.1f}s"
        )

        xs = [1.0, 2.0, 3.0]
        for node in spec.nodes:
            ys, version = predict(node, xs)
            say(f"  predict {node.name}: x={xs} -> y={ys} (version {version})")

        publish(store, v2, MODEL, 2)
        say(f"published {MODEL}/2 (pinned at 1: not served yet); promoting it through the master")
        started = time.monotonic()
        master.post(f"/models/{MODEL}/promote", {"version": 2})
        for node in spec.nodes:
            wait_for(
                partial(answers_with, node, xs, 2),
                opts.timeout,
                f"{node.name} to answer with {MODEL}/2",
            )
        took = time.monotonic() - started
        say(
            f"promote -> every node answers with {MODEL}/2 in {took:.2f}s "
            f"(poll interval {spec.poll_interval:.0f}s; the master pushed 'sync now')"
        )
        for node in spec.nodes:
            ys, version = predict(node, xs)
            say(f"  predict {node.name}: x={xs} -> y={ys} (version {version})")

        # Answering with v2 is not the end of a promote: the config manager still has to see
        # v1 unloaded and confirm. The fleet is converged when the master's triage says so.
        started = time.monotonic()
        with contextlib.suppress(FleetError):
            wait_for(
                lambda: master.get("/triage").get("verdict") == "healthy",
                opts.timeout,
                "the master's triage to report a healthy fleet",
            )
        verdict = master.get("/triage")
        say(
            f"triage: {verdict.get('verdict', verdict)} "
            f"({time.monotonic() - started:.2f}s after the last node answered with v2)"
        )
        if verdict.get("verdict") != "healthy":
            say(f"  {verdict.get('summary', '')}")
            for line in verdict.get("actions") or ():
                say(f"  {line}")
        say(f"dashboard: {spec.master_url}/dashboard  (admin token: {fleet.token_file('admin')})")
        say(
            "CLI: "
            + " ".join(f"{k}={v}" for k, v in fleet.operator_env().items())
            + " .venv/bin/modelfleet status"
        )
        if opts.once:
            return 0
        say("the fleet keeps running; Ctrl-C stops it")
        while not stop.wait(1.0):
            dead = fleet.dead()
            if dead:
                say(f"warning: {', '.join(f'{p.role}@{p.node}' for p in dead)} exited")
        return 0
    finally:
        say("stopping the fleet")
        fleet.down()
        signal.signal(signal.SIGINT, previous)
