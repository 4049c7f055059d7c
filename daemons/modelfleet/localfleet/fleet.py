"""Start, stop and inspect the processes of a local fleet.

The fleet's whole state lives under one directory (default ``.localfleet/``): the bucket
(a local directory, or a GCS emulator's data), one directory per node (models, serving
config, state dirs), tokens, logs and ``fleet.json`` with the pids, so ``localfleet down``
and ``status`` work from another shell.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, atomic_write_json, read_json
from ..tokens import node_token

__all__ = ["Fleet", "FleetError", "FleetSpec", "NodeSpec", "Proc"]

PULLER_PORT = 8001
CONFIG_MANAGER_PORT = 8002
TFSERVING_PORT = 8500
TFSERVING_REST_PORT = 8501
METRICS_PATH = "/monitoring/prometheus/metrics"


class FleetError(RuntimeError):
    """A fleet that cannot start, or a process that died."""


@dataclass
class NodeSpec:
    name: str
    address: str
    zone: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def grpc_target(self) -> str:
        return f"{self.address}:{TFSERVING_PORT}"


@dataclass
class FleetSpec:
    root: Path
    nodes: list[NodeSpec]
    master_address: str = "127.0.0.1"
    master_port: int = 8080
    remote: str = ""
    gcs_emulator_port: int = 0
    poll_interval: float = 10.0
    heartbeat_interval: float = 2.0
    devserver_mode: str = "auto"  # "no-tensorflow": load-only dev servers, light and fast
    devserver_args: list[str] = field(default_factory=list)  # e.g. ["--load-delay", "1"]
    # TF Serving's grpc.max_connection_age_ms / _grace_ms (0 = not set): clients reconnect and
    # re-resolve DNS at that age, which is what lets drains and undrains move traffic.
    connection_age_ms: int = 0
    connection_age_grace_ms: int = 0
    # TF Serving retries a failing load (reported LOADING) before it ends in error; its
    # defaults (5 retries, 60 s apart) keep a broken version loading 5 minutes. A local fleet
    # is for demos and tests: 2 retries, 1 s apart. devserver_args may override both.
    load_retries: int = 2
    load_retry_interval: float = 1.0

    @classmethod
    def default(
        cls,
        root: Path,
        nodes: int = 3,
        zones: int = 2,
        *,
        subnet: str = "127.0.1",
        master_port: int | None = None,
        poll_interval: float = 10.0,
    ) -> FleetSpec:
        if not 1 <= nodes <= 200:
            raise FleetError("--nodes must be between 1 and 200")
        specs = [
            NodeSpec(name=f"node{i}", address=f"{subnet}.{i}", zone=f"zone{(i - 1) % zones + 1}")
            for i in range(1, nodes + 1)
        ]
        port = master_port or (80 if os.geteuid() == 0 else 8080)
        return cls(
            root=root.resolve(),
            nodes=specs,
            master_address=f"{subnet}.254",
            master_port=port,
            remote=str((root / "bucket").resolve()),
            poll_interval=poll_interval,
        )

    @property
    def master_url(self) -> str:
        return f"http://{self.master_address}:{self.master_port}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["root"] = str(self.root)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetSpec:
        nodes = [NodeSpec(**n) for n in data.pop("nodes")]
        return cls(root=Path(data.pop("root")), nodes=nodes, **data)


@dataclass
class Proc:
    role: str
    node: str
    pid: int
    log: str
    argv: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie child still answers kill(0): look at its state.
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
        return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


# Run before the real command: ask Linux for SIGTERM when the controller dies, then exec.
# (Not a preexec_fn: forking a process that runs gRPC threads and then running Python in the
# child before exec breaks gRPC in the child.)
_TIE_TO_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)\n"
    "sys.exit(1) if os.getppid() == 1 else os.execv(sys.argv[1], sys.argv[1:])\n"
)


def _modelfleet_cmd() -> list[str]:
    """Run the CLI of this very interpreter, so the fleet uses the same install."""
    return [sys.executable, "-m", "modelfleet"]


class Fleet:
    """A local fleet described by a :class:`FleetSpec`; processes are started detached."""

    def __init__(self, spec: FleetSpec, *, tied: bool = False) -> None:
        """``tied``: processes get SIGTERM when this process dies (tests, demo, benchmarks),
        so a crashed controller never leaves a fleet behind; ``localfleet up`` detaches.
        Linux sends it when the spawning *thread* ends: spawn from a long-lived thread."""
        self.spec = spec
        self.tied = tied
        self.procs: list[Proc] = []
        self._popen: dict[int, subprocess.Popen[bytes]] = {}

    # ----- paths -------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.spec.root

    @property
    def state_file(self) -> Path:
        return self.root / "fleet.json"

    def node_dir(self, node: NodeSpec) -> Path:
        return self.root / "nodes" / node.name

    def token_file(self, kind: str) -> Path:
        return self.root / "tokens" / f"{kind}.token"

    def token(self, kind: str) -> str:
        return self.token_file(kind).read_text().strip()

    def node_token_file(self, node: NodeSpec) -> Path:
        """The node's own token (both its daemons'), issued from the fleet's node key."""
        return self.root / "tokens" / f"node-{node.name}.token"

    def node_token(self, node: NodeSpec) -> str:
        return self.node_token_file(node).read_text().strip()

    # ----- persistence -------------------------------------------------------------------
    def save(self) -> None:
        atomic_write_json(
            self.state_file,
            {"spec": self.spec.to_json(), "procs": [asdict(p) for p in self.procs]},
        )

    @classmethod
    def load(cls, root: Path) -> Fleet:
        try:
            data = read_json(root / "fleet.json")
        except FileNotFoundError:
            raise FleetError(f"no local fleet in {root} (run `modelfleet localfleet up`)") from None
        fleet = cls(FleetSpec.from_json(data["spec"]))
        fleet.procs = [Proc(**p) for p in data["procs"]]
        return fleet

    # ----- setup -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create directories and tokens (0600); idempotent."""
        for sub in ("tokens", "logs", "bucket", "master"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "tokens", 0o700)
        for kind in ("node-key", "admin", "readonly"):
            path = self.token_file(kind)
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(32) + "\n")
        key = self.token("node-key")
        for node in self.spec.nodes:  # issued at provisioning, as the roles do
            atomic_write_bytes(
                self.node_token_file(node), (node_token(key, node.address) + "\n").encode(), 0o600
            )
        for node in self.spec.nodes:
            base = self.node_dir(node)
            for sub in ("models", "serving_config", "app/puller", "app/config_manager"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            config = base / "serving_config" / "models.config"
            if not config.exists():
                config.write_text("model_config_list {\n}\n")
            (base / "serving_config" / "monitoring.config").write_text(
                f'prometheus_config {{\n  enable: true,\n  path: "{METRICS_PATH}"\n}}\n'
            )

    def node_env(self, node: NodeSpec, service: str) -> dict[str, str]:
        base = self.node_dir(node)
        env = dict(os.environ)
        env.update(
            {
                "HOSTNAME": node.address,
                "LOCAL_MODEL_DIRECTORY": str(base / "models"),
                "REMOTE_MODEL_DIRECTORY": self.spec.remote,
                "TENSORFLOW_SERVING_CONFIG_FILE": str(base / "serving_config" / "models.config"),
                "TENSORFLOW_SERVING_GRPC_TARGET": node.grpc_target,
                "MODELFLEET_STATE_DIR": str(base / "app" / service),
                "MODELFLEET_MASTER_URL": self.spec.master_url,
                "MODELFLEET_CLUSTER_TOKEN_FILE": str(self.node_token_file(node)),
                "MODELFLEET_ZONE": node.zone,
                "MODELFLEET_POLL_INTERVAL": str(self.spec.poll_interval),
                "MODELFLEET_HEARTBEAT_INTERVAL": str(self.spec.heartbeat_interval),
            }
        )
        if self.spec.gcs_emulator_port:
            env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.spec.gcs_emulator_port}"
        env.update(node.env)
        return env

    def master_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REMOTE_MODEL_DIRECTORY": self.spec.remote,
                "MODELFLEET_STATE_DIR": str(self.root / "master"),
                "MODELFLEET_BIND": f"{self.spec.master_address}:{self.spec.master_port}",
                "MODELFLEET_NODE_KEY_FILE": str(self.token_file("node-key")),
                "MODELFLEET_ADMIN_TOKEN_FILE": str(self.token_file("admin")),
                "MODELFLEET_READONLY_TOKEN_FILE": str(self.token_file("readonly")),
            }
        )
        if self.spec.gcs_emulator_port:
            env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.spec.gcs_emulator_port}"
        return env

    def operator_env(self) -> dict[str, str]:
        """What a shell needs to run `modelfleet status` etc. against this fleet."""
        env = {
            "MODELFLEET_MASTER_URL": self.spec.master_url,
            "MODELFLEET_TOKEN_FILE": str(self.token_file("admin")),
            "REMOTE_MODEL_DIRECTORY": self.spec.remote,
        }
        if self.spec.gcs_emulator_port:
            env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.spec.gcs_emulator_port}"
        return env

    # ----- processes ---------------------------------------------------------------------
    def commands(self, node: NodeSpec) -> dict[str, list[str]]:
        base = self.node_dir(node)
        mf = _modelfleet_cmd()
        config = str(base / "serving_config" / "models.config")
        tfserving = [*mf, "devserver", "run", "--host", node.address, "--port", str(TFSERVING_PORT)]
        tfserving += ["--rest_api_port", str(TFSERVING_REST_PORT), "--model_config_file", config]
        tfserving += [
            "--monitoring_config_file",
            str(base / "serving_config" / "monitoring.config"),
        ]
        if self.spec.connection_age_ms:
            age = f"grpc.max_connection_age_ms={self.spec.connection_age_ms}"
            if self.spec.connection_age_grace_ms:
                age += f",grpc.max_connection_age_grace_ms={self.spec.connection_age_grace_ms}"
            tfserving += ["--grpc_channel_arguments", age]
        tfserving += ["--max_num_load_retries", str(self.spec.load_retries)]
        tfserving += ["--load_retry_interval_micros", str(int(self.spec.load_retry_interval * 1e6))]
        tfserving += ["--mode", self.spec.devserver_mode, *self.spec.devserver_args]
        return {
            "tfserving": tfserving,
            "remote_model_puller": [
                *mf,
                "puller",
                "run",
                "--bind",
                f"{node.address}:{PULLER_PORT}",
            ],
            "config_manager": [
                *mf,
                "configmanager",
                "run",
                "--bind",
                f"{node.address}:{CONFIG_MANAGER_PORT}",
            ],
        }

    def spawn(self, role: str, node: str, argv: list[str], env: dict[str, str]) -> Proc:
        log_path = self.root / "logs" / f"{node}.{role}.log"
        launch = [sys.executable, "-c", _TIE_TO_PARENT, *argv] if self.tied else argv
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                launch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(role=role, node=node, pid=popen.pid, log=str(log_path), argv=argv)
        self._popen[popen.pid] = popen
        self.procs = [p for p in self.procs if not (p.role == role and p.node == node)]
        self.procs.append(proc)
        self.save()
        return proc

    def start_master(self) -> Proc:
        argv = [*_modelfleet_cmd(), "master", "run"]
        return self.spawn("master", "master", argv, self.master_env())

    def start_node_service(self, node: NodeSpec, role: str) -> Proc:
        env = self.node_env(node, "puller" if role == "remote_model_puller" else role)
        return self.spawn(role, node.name, self.commands(node)[role], env)

    def start_node(self, node: NodeSpec) -> list[Proc]:
        return [self.start_node_service(node, role) for role in self.commands(node)]

    def metrics_url(self, node: NodeSpec) -> str:
        """The node's TF Serving Prometheus page (request count, as tensorflow_model_server)."""
        return f"http://{node.address}:{TFSERVING_REST_PORT}{METRICS_PATH}"

    def node(self, name: str) -> NodeSpec:
        for node in self.spec.nodes:
            if node.name == name:
                return node
        raise FleetError(f"no node {name!r} in this fleet")

    def up(self, *, master: bool = True) -> None:
        self.prepare()
        self.save()
        if master:
            self.start_master()
        for node in self.spec.nodes:
            self.start_node(node)

    def find(self, role: str, node: str) -> Proc | None:
        for proc in self.procs:
            if proc.role == role and proc.node == node:
                return proc
        return None

    def kill(self, role: str, node: str, sig: int = signal.SIGTERM) -> None:
        proc = self.find(role, node)
        if proc is None:
            raise FleetError(f"no {role} on {node}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        self.reap(proc, timeout=15)

    def reap(self, proc: Proc, timeout: float) -> None:
        """Wait for a process to exit, escalating to SIGKILL at the deadline."""
        popen = self._popen.pop(proc.pid, None)
        deadline = time.monotonic() + timeout
        while proc.alive() and time.monotonic() < deadline:
            if popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=0.1)
            else:
                time.sleep(0.1)
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if popen is not None:
                popen.wait(timeout=10)

    def down(self, timeout: float = 20.0) -> None:
        """Stop every process (SIGTERM to each process group, then SIGKILL)."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            self.reap(proc, timeout)
        self.procs = []
        if self.state_file.parent.exists():
            self.save()

    def status(self) -> list[dict[str, Any]]:
        return [{**asdict(p), "alive": p.alive()} for p in self.procs]

    def dead(self) -> list[Proc]:
        return [p for p in self.procs if not p.alive()]

    def wait_ports(self, timeout: float = 60.0) -> None:
        """Wait until every service listens; fail early, with its log tail, if one dies."""
        wanted: list[tuple[str, str, str, int]] = [
            ("master", "master", self.spec.master_address, self.spec.master_port)
        ]
        for node in self.spec.nodes:
            wanted += [
                ("tfserving", node.name, node.address, TFSERVING_PORT),
                ("remote_model_puller", node.name, node.address, PULLER_PORT),
                ("config_manager", node.name, node.address, CONFIG_MANAGER_PORT),
            ]
        wanted = [w for w in wanted if self.find(w[0], w[1])]
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.dead():
                raise FleetError(f"{proc.role} on {proc.node} exited:\n{self.log_tail(proc)}")
            missing = [w for w in wanted if not _port_open(w[2], w[3])]
            if not missing:
                return
            if time.monotonic() > deadline:
                names = ", ".join(f"{r}@{n} ({h}:{p})" for r, n, h, p in missing)
                raise FleetError(f"not listening after {timeout:.0f}s: {names}")
            time.sleep(0.1)

    def log_tail(self, proc: Proc, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(Path(proc.log).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self.spec.nodes)
