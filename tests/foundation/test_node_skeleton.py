"""The node daemon skeleton: passes, wake/force, crash handling, heartbeats, settings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from modelfleet.node.daemon import NodeDaemon, PassOutcome
from modelfleet.node.health import check_health
from modelfleet.settings import EnvReader, NodeSettings, SettingsError
from tests.support.helpers import wait_until


def _settings(tmp_path: Path, **env: str) -> NodeSettings:
    (tmp_path / "local").mkdir(exist_ok=True)
    r = EnvReader(
        env={
            "LOCAL_MODEL_DIRECTORY": str(tmp_path / "local"),
            "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
            "MODELFLEET_POLL_INTERVAL": "30",
            "HOSTNAME": "node1",
            **env,
        }
    )
    return NodeSettings(**NodeSettings.read(r, "0.0.0.0:8009"))


class Counting(NodeDaemon):
    service = "counting"

    def __init__(self, settings: NodeSettings) -> None:
        super().__init__(settings, CollectorRegistry())
        self.forces: list[bool] = []
        self.crash = threading.Event()
        self.recovered = False
        self.loop = self.add_loop("work", self.run_pass)

    def recover(self) -> None:
        self.recovered = True

    def run_pass(self, force: bool) -> PassOutcome:
        self.forces.append(force)
        if self.crash.is_set():
            raise RuntimeError("boom")
        return True, "fine"


def test_loop_wakes_survives_crashes_and_beats(tmp_path: Path) -> None:
    daemon = Counting(_settings(tmp_path))
    assert daemon.ready() == (False, "first pass of work not finished")
    daemon.start()
    try:
        assert daemon.recovered
        wait_until(lambda: daemon.loop.passes == 1, 10, what="first pass")
        assert daemon.ready() == (True, "ok")
        daemon.loop.wake(force=True)  # the poll interval is 30 s: only a wake runs a pass
        wait_until(lambda: daemon.loop.passes == 2, 10, what="woken pass")
        assert daemon.forces == [False, True]
        assert check_health(tmp_path / "state", "counting").healthy
        daemon.crash.set()
        daemon.loop.wake()
        wait_until(lambda: daemon.loop.passes == 3, 10, what="crashing pass")
        verdict = check_health(tmp_path / "state", "counting")
        assert not verdict.healthy and "RuntimeError: boom" in verdict.reason
        daemon.crash.clear()
        daemon.loop.wake()
        wait_until(lambda: daemon.loop.passes == 4, 10, what="the loop survived the crash")
        assert check_health(tmp_path / "state", "counting").healthy
        assert daemon.loop.last_error == ""
    finally:
        daemon.stop()
    assert daemon.master_status() is None


def test_shared_settings_are_read_once_for_every_node_daemon(tmp_path: Path) -> None:
    s = _settings(tmp_path, MODELFLEET_BIND="127.0.0.1:9001", MODELFLEET_ZONE="zone2")
    assert (s.bind, s.advertise_port, s.zone, s.poll_interval) == (
        "127.0.0.1:9001",
        9001,
        "zone2",
        30,
    )
    with pytest.raises(SettingsError, match="MODELFLEET_HEARTBEAT_INTERVAL"):
        _settings(tmp_path, MODELFLEET_HEARTBEAT_INTERVAL="0")
    from modelfleet.configmanager.settings import ConfigManagerSettings
    from modelfleet.puller.settings import PullerSettings

    shared = set(NodeSettings.__dataclass_fields__)
    assert shared <= set(PullerSettings.__dataclass_fields__)
    assert shared <= set(ConfigManagerSettings.__dataclass_fields__)
