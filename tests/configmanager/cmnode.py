"""A config manager in-process against an in-process dev server (no-TF mode, real gRPC).

TF Serving's behaviour is scaled down for speed: the source polls every 50 ms, the manager
acts every 10 ms, a failing load is retried once, 50 ms later.
"""

from __future__ import annotations

from pathlib import Path

from modelfleet.atomic import atomic_write_json
from modelfleet.configmanager import ConfigManager, ConfigManagerSettings
from modelfleet.devserver import DevServer, FileLoader, ManagerOptions
from modelfleet.devserver.loader import Loader
from modelfleet.tfserving import TFServingClient
from tests.support.helpers import free_port
from tests.support.storeutil import install_local

__all__ = ["FAST_TFS", "Node", "install", "write_desired"]

FAST_TFS = ManagerOptions(
    max_num_load_retries=1,
    load_retry_interval=0.05,
    file_system_poll_wait=0.05,
    manage_interval=0.01,
)


def install(local: Path, model: str, version: int, content: bytes = b"pb") -> Path:
    """A version installed as the puller does (verified manifest, one rename)."""
    return install_local(local, model, version, {"saved_model.pb": content})


def write_desired(local: Path, models: dict[str, dict[str, object]]) -> None:
    (local / ".modelfleet").mkdir(exist_ok=True)
    atomic_write_json(local / ".modelfleet" / "desired.json", {"schema": 1, "models": models})


class Node:
    """One node: LOCAL, models.config, a dev server and a config manager (not started)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.local = tmp / "models"
        self.local.mkdir()
        self.port = free_port()
        self.config = tmp / "models.config"
        self.settings = ConfigManagerSettings.from_env(
            {
                "LOCAL_MODEL_DIRECTORY": str(self.local),
                "TENSORFLOW_SERVING_CONFIG_FILE": str(self.config),
                "TENSORFLOW_SERVING_GRPC_TARGET": f"127.0.0.1:{self.port}",
                "MODELFLEET_STATE_DIR": str(tmp / "state"),
                "MODELFLEET_POLL_INTERVAL": "0.2",
                "MODELFLEET_RELOAD_TIMEOUT": "10",
                "HOSTNAME": "node1",
            },
            env={},
        )
        self.loader: Loader = FileLoader()
        self.server: DevServer | None = None
        self.start_tfs()
        self.cm = ConfigManager(self.settings)
        self.client = TFServingClient(f"127.0.0.1:{self.port}")

    def start_tfs(self, config: bool = False) -> None:
        self.server = DevServer(
            port=self.port,
            host="127.0.0.1",
            loader=self.loader,
            options=FAST_TFS,
            model_config_file=self.config if config else None,
        )
        self.server.start()

    def stop_tfs(self) -> None:
        assert self.server is not None
        self.server.stop(0)

    def restart_cm(self) -> None:
        self.cm.client.close()
        self.cm = ConfigManager(self.settings)

    def states(self, model: str) -> dict[int, str]:
        return {s.version: s.state for s in self.client.status(model)}

    def close(self) -> None:
        self.client.close()
        self.cm.client.close()
        self.stop_tfs()
