from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # see tests/store/conftest.py
    warnings.simplefilter("ignore", ImportWarning)
    import google.api_core.exceptions  # noqa: F401

from modelfleet.puller import PullerDaemon, PullerSettings
from modelfleet.store import RemoteStore
from modelfleet.store.base import Cancelled, FetchItem
from modelfleet.store.local import LocalStore


@pytest.fixture
def puller_env(tmp_path: Path) -> dict[str, str]:
    local = tmp_path / "local"
    state = tmp_path / "state"
    local.mkdir()
    state.mkdir()
    return {
        "HOSTNAME": "node1",
        "LOCAL_MODEL_DIRECTORY": str(local),
        "MODELFLEET_STATE_DIR": str(state),
        "MODELFLEET_POLL_INTERVAL": "0.2",
        "MODELFLEET_DISK_RESERVE_MB": "0",
        "MODELFLEET_FSYNC": "false",
        "MODELFLEET_BIND": "127.0.0.1:8001",
    }


@pytest.fixture
def make_daemon(puller_env: dict[str, str]) -> Callable[..., PullerDaemon]:
    """A puller daemon on a remote, not started: tests drive ``sync_once`` themselves."""
    made: list[PullerDaemon] = []

    def make(remote: str, store: RemoteStore | None = None, **env: Any) -> PullerDaemon:
        settings = PullerSettings.from_env(
            env={
                **puller_env,
                "REMOTE_MODEL_DIRECTORY": remote,
                **{k: str(v) for k, v in env.items()},
            }
        )
        daemon = PullerDaemon(settings, store)
        daemon.recover()
        made.append(daemon)
        return daemon

    yield make  # type: ignore[misc]
    for daemon in made:
        daemon.stop()


class GatedStore(LocalStore):
    """A real directory bucket whose downloads of some models wait for a gate.

    ``hold("big")`` (a whole model) or ``hold("m/2")`` (one version) makes those fetches
    block, like a long pull, until ``release``, while honouring cancellation exactly as the
    real engine does. ``fetching`` names the models whose fetch is held right now.
    """

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.gates: dict[str, threading.Event] = {}
        self.fetching: set[str] = set()

    def hold(self, key: str) -> None:
        self.gates[key] = threading.Event()

    def release(self, key: str) -> None:
        self.gates.pop(key).set()

    def fetch(self, items: Sequence[FetchItem], **kwargs: Any) -> None:  # type: ignore[override]
        model, version = items[0].key.split("/")[:2] if items else ("", "")
        gate = self.gates.get(f"{model}/{version}") or self.gates.get(model)
        cancel = kwargs.get("cancel")
        if gate is not None:
            self.fetching.add(model)
            try:
                while not gate.wait(0.01):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("cancelled while held")
            finally:
                self.fetching.discard(model)
        super().fetch(items, **kwargs)


@pytest.fixture
def gated(tmp_path: Path) -> GatedStore:
    root = tmp_path / "gated-bucket"
    root.mkdir()
    return GatedStore(str(root))


def staging_entries(daemon: PullerDaemon) -> list[str]:
    return sorted(p.name for p in daemon.local.staging.iterdir())
