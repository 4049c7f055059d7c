"""A real local fleet for the model-based test, and the operations and faults it is driven by.

:class:`FleetHarness` runs :mod:`modelfleet.localfleet` (master + N nodes, each with a
puller, a config manager and a dev server in load-only mode) over a local-directory bucket,
with timings scaled for a test: pullers poll every second, the dev server's source polls
every 0.2 s and retries a failing load once after 0.3 s (TF Serving's behaviour, smaller
numbers). Operators act as they would: ``modelfleet publish`` (the library call) and the
master's API with the admin token; faults are SIGKILL of a daemon or of TF Serving followed
by a restart. :class:`InvariantWatcher` looks at every node many times a second.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from modelfleet.localdir import LocalModelDir
from modelfleet.localfleet.fleet import Fleet, FleetSpec, NodeSpec
from modelfleet.store import MANIFEST_NAME, open_store, publish
from modelfleet.tfserving.client import TFServingClient, VersionStatus
from modelfleet.tfserving.errors import TFServingError
from tests.support.helpers import free_port

__all__ = ["FleetHarness", "InvariantWatcher", "NodeView"]

ROLES = ("tfserving", "remote_model_puller", "config_manager")
PORTS = {"remote_model_puller": 8001, "config_manager": 8002}


@dataclass
class NodeView:
    """One observation of one node: TF Serving, both daemons' status, the disk."""

    node: str
    tf: dict[str, list[VersionStatus]] = field(default_factory=dict)  # model -> rows
    tf_error: str = ""
    cm: dict[str, Any] | None = None
    cm_error: str = ""
    puller: dict[str, Any] | None = None
    puller_error: str = ""
    installed: dict[str, list[int]] = field(default_factory=dict)
    not_installed: list[str] = field(default_factory=list)

    def available(self, model: str) -> list[int]:
        return sorted(r.version for r in self.tf.get(model, []) if r.state == "AVAILABLE")

    def unsettled(self, model: str) -> list[tuple[int, str]]:
        return [
            (r.version, r.state)
            for r in self.tf.get(model, [])
            if r.state not in ("AVAILABLE", "END")
        ]


def free_subnet(nodes: int) -> str:
    """A ``127.0.X`` loopback subnet whose node ports are free: runs of this test by other
    people on the same machine (``make test``, ``make soak``) do not collide."""
    rng = random.SystemRandom()
    for _ in range(50):
        subnet = f"127.0.{rng.randrange(100, 250)}"
        hosts = [f"{subnet}.{i}" for i in range(1, nodes + 1)]
        if all(_port_free(h, p) for h in hosts for p in (8500, 8501, 8001, 8002)):
            return subnet
    raise RuntimeError("no free loopback subnet for the fleet test")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class FleetHarness:
    def __init__(self, root: Path, nodes: int = 2, subnet: str | None = None) -> None:
        subnet = subnet or free_subnet(nodes)
        spec = FleetSpec.default(
            root,
            nodes=nodes,
            zones=nodes,
            subnet=subnet,
            master_port=free_port(),
            poll_interval=1.0,
        )
        spec.devserver_mode = "no-tensorflow"
        spec.devserver_args = ["--file_system_poll_wait_seconds", "0.2"]
        spec.load_retries = 1
        spec.load_retry_interval = 0.3
        spec.heartbeat_interval = 1.0
        for node in spec.nodes:
            node.env.update({"MODELFLEET_DISK_RESERVE_MB": "1", "MODELFLEET_RELOAD_TIMEOUT": "30"})
        self.fleet = Fleet(spec, tied=True)
        self.spec = spec
        self.work = root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.store = open_store(spec.remote)
        self.session = requests.Session()
        self._clients: dict[str, TFServingClient] = {}

    # -- life cycle ---------------------------------------------------------------------------

    def up(self) -> None:
        self.fleet.prepare()
        self.session.headers["Authorization"] = f"Bearer {self.fleet.token('admin')}"
        self.fleet.up()
        self.fleet.wait_ports(timeout=120)

    def down(self) -> None:
        for client in self._clients.values():
            client.close()
        self.fleet.down()

    @property
    def nodes(self) -> list[NodeSpec]:
        return self.spec.nodes

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {p.node}.{p.role}\n{self.fleet.log_tail(p, 15)}" for p in self.fleet.procs
        )

    # -- operators ----------------------------------------------------------------------------

    def publish(self, model: str, version: int, *, corrupt: bool, tag: str = "") -> None:
        """``modelfleet publish`` of a small version; ``corrupt``: an empty saved_model.pb
        (the dev server and TensorFlow both fail to load it)."""
        src = self.work / f"{model}.{version}.{tag or 'x'}"
        shutil.rmtree(src, ignore_errors=True)
        (src / "variables").mkdir(parents=True)
        payload = b"" if corrupt else f"{model} {version} {tag}".encode() * 16
        (src / "saved_model.pb").write_bytes(payload)
        (src / "variables" / "variables.index").write_bytes(f"{version}{tag}".encode())
        publish(self.store, src, model, version, created_by="fleet test")

    def master(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        return self.session.request(
            method, f"{self.spec.master_url}/api/v1{path}", json=body, timeout=30
        )

    def desired(self) -> dict[str, Any]:
        """The remote desired document as the bucket holds it."""
        data, _generation = self.store.read("_modelfleet/desired.json")
        return dict(json.loads(data))

    # -- faults -------------------------------------------------------------------------------

    def kill(self, node: NodeSpec, role: str) -> None:
        """SIGKILL one process of a node and start it again (systemd's Restart=always)."""
        self.fleet.kill(role, node.name, signal.SIGKILL)
        self.fleet.start_node_service(node, role)

    # -- observation --------------------------------------------------------------------------

    def client(self, node: NodeSpec) -> TFServingClient:
        if node.name not in self._clients:
            self._clients[node.name] = TFServingClient(node.grpc_target, timeout=1.0)
        return self._clients[node.name]

    def local(self, node: NodeSpec) -> LocalModelDir:
        return LocalModelDir(self.fleet.node_dir(node) / "models")

    def _get(self, node: NodeSpec, role: str, path: str) -> tuple[dict[str, Any] | None, str]:
        try:
            resp = requests.get(
                f"http://{node.address}:{PORTS[role]}/api/v1{path}",
                headers={"Authorization": f"Bearer {self.fleet.node_token(node)}"},
                timeout=3,
            )
        except requests.RequestException as exc:
            return None, f"{role} unreachable: {type(exc).__name__}"
        if resp.status_code != 200:
            return None, f"{role} answered {resp.status_code}"
        return resp.json(), ""

    def observe(self, node: NodeSpec, models: list[str]) -> NodeView:
        view = NodeView(node.name)
        for model in models:
            try:
                view.tf[model] = self.client(node).status(model, timeout=1.0)
            except TFServingError as exc:
                if exc.not_found:
                    view.tf[model] = []
                else:
                    view.tf_error = str(exc)
        view.cm, view.cm_error = self._get(node, "config_manager", "/models")
        view.puller, view.puller_error = self._get(node, "remote_model_puller", "/status")
        view.installed, problems = self.local(node).scan()
        view.not_installed = [p for p in problems if "not served" in p]
        return view


class InvariantWatcher:
    """Scans every node many times a second for what must never be seen, at any moment.

    1. a partial version under ``LOCAL/<model>/<version>/`` (no manifest, a listed file
       missing or of the wrong size): TF Serving must never be able to see one;
    2. a version TF Serving reports AVAILABLE or LOADING whose directory is gone.
    """

    def __init__(self, harness: FleetHarness) -> None:
        self.harness = harness
        self.violations: list[str] = []
        self.scans = 0
        self.models: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="invariants", daemon=True)
        self._clients = {n.name: TFServingClient(n.grpc_target, timeout=0.5) for n in harness.nodes}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for client in self._clients.values():
            client.close()

    @staticmethod
    def partial(version_dir: Path) -> str | None:
        try:
            doc = json.loads((version_dir / MANIFEST_NAME).read_text())
        except FileNotFoundError:
            return "no manifest"
        except (OSError, ValueError) as exc:
            return f"unreadable manifest: {exc}"
        for entry in doc.get("files", []):
            try:
                if (version_dir / entry["path"]).stat().st_size != entry["size"]:
                    return f"{entry['path']} has the wrong size"
            except FileNotFoundError:
                return f"{entry['path']} missing"
        return None

    def scan(self) -> None:
        for node in self.harness.nodes:
            root = self.harness.fleet.node_dir(node) / "models"
            for model in list(self.models):
                model_dir = root / model
                with contextlib.suppress(FileNotFoundError):
                    for version_dir in model_dir.iterdir():
                        problem = self.partial(version_dir)
                        # Deleted between listing and checking is a deletion, not a partial.
                        if problem and version_dir.exists():
                            self.violations.append(f"{node.name}: partial {version_dir}: {problem}")
                try:
                    rows = self._clients[node.name].status(model, timeout=0.5)
                except TFServingError:
                    continue
                for row in rows:
                    if (
                        row.state in ("AVAILABLE", "LOADING")
                        and not (model_dir / str(row.version)).exists()
                    ):
                        where = f"{node.name}: {model}/{row.version}"
                        self.violations.append(f"{where} is {row.state}, its directory is gone")
        self.scans += 1

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(OSError):
                self.scan()
