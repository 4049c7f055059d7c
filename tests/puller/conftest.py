from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # see tests/store/conftest.py
    warnings.simplefilter("ignore", ImportWarning)
    import google.api_core.exceptions  # noqa: F401

from modelfleet.puller import PullerDaemon, PullerSettings


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

    def make(remote: str, **env: Any) -> PullerDaemon:
        settings = PullerSettings.from_env(
            env={
                **puller_env,
                "REMOTE_MODEL_DIRECTORY": remote,
                **{k: str(v) for k, v in env.items()},
            }
        )
        daemon = PullerDaemon(settings)
        daemon.recover()
        made.append(daemon)
        return daemon

    yield make  # type: ignore[misc]
    for daemon in made:
        daemon.stop()
