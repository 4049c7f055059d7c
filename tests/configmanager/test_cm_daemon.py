"""config_manager in-process against an in-process dev server (no-TF mode, real gRPC)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelfleet.atomic import atomic_write_json
from modelfleet.configmanager import ConfigManager, ConfigManagerSettings
from modelfleet.configmanager.plan import compute_target, transition_steps
from modelfleet.devserver import DevServer, FileLoader
from modelfleet.localdir import parse_desired
from modelfleet.node.admin import create_node_app
from modelfleet.settings import SettingsError
from modelfleet.tfserving import TFServingClient, parse_config
from tests.support.helpers import free_port
from tests.support.storeutil import install_local


def _version(local: Path, model: str, version: int, content: bytes = b"pb") -> None:
    install_local(local, model, version, {"saved_model.pb": content})


def _desired(local: Path, models: dict[str, dict[str, object]]) -> None:
    (local / ".modelfleet").mkdir(exist_ok=True)
    atomic_write_json(local / ".modelfleet" / "desired.json", {"schema": 1, "models": models})


class Node:
    def __init__(self, tmp: Path) -> None:
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
        self.server: DevServer | None = None
        self.start_tfs()
        self.cm = ConfigManager(self.settings)
        self.client = TFServingClient(f"127.0.0.1:{self.port}")

    def start_tfs(self) -> None:
        self.server = DevServer(port=self.port, host="127.0.0.1", loader=FileLoader())
        self.server.start()

    def stop_tfs(self) -> None:
        assert self.server is not None
        self.server.stop(0)

    def states(self, model: str) -> dict[int, str]:
        return {s.version: s.state for s in self.client.status(model)}

    def close(self) -> None:
        self.client.close()
        self.cm.client.close()
        self.stop_tfs()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    try:
        yield n
    finally:
        n.close()


def test_serves_desired_intersect_present_with_labels(node: Node) -> None:
    _version(node.local, "m", 1)
    _desired(node.local, {"m": {"versions": [1, 2], "labels": {"stable": 1}, "keep": []}})
    result = node.cm.reconcile()
    assert result.error is None and result.config_changed
    assert node.states("m") == {1: "AVAILABLE"}
    (entry,) = parse_config(node.config.read_text())
    assert (entry.versions, entry.labels, entry.policy) == ((1,), (("stable", 1),), "specific")
    assert entry.base_path == f"{node.local}/m"
    assert node.cm.ready() == (True, "serving the desired config")
    # Byte-stable: an unchanged state neither rewrites nor reloads.
    mtime = node.config.stat().st_mtime_ns
    reloads = node.cm.metrics.reloads.labels("ok")._value.get()
    again = node.cm.reconcile()
    assert not again.config_changed and not again.applied
    assert node.config.stat().st_mtime_ns == mtime
    assert node.cm.metrics.reloads.labels("ok")._value.get() == reloads


def test_upgrade_new_available_before_old_leaves(node: Node) -> None:
    _version(node.local, "m", 1)
    _desired(node.local, {"m": {"versions": [1], "labels": {"stable": 1}}})
    node.cm.reconcile()
    sent: list[dict[str, tuple[int, ...]]] = []
    original = node.cm.client.reload

    def spy(config, timeout=None):  # type: ignore[no-untyped-def]
        sent.append({e.name: (e.versions, e.labels) for e in config})
        return original(config, timeout=timeout)

    node.cm.client.reload = spy  # type: ignore[method-assign]
    _version(node.local, "m", 2)
    _desired(node.local, {"m": {"versions": [2], "labels": {"stable": 2}, "keep": [1]}})
    assert node.cm.reconcile().error is None
    assert sent == [
        {"m": ((1, 2), (("stable", 1),))},  # add v2, label stays on v1
        {"m": ((1, 2), (("stable", 2),))},  # move the label once v2 is AVAILABLE
        {"m": ((2,), (("stable", 2),))},  # drop v1
    ]
    assert node.states("m") == {1: "END", 2: "AVAILABLE"}
    assert (node.local / "m" / "1").is_dir()  # kept: retention


def test_broken_version_quarantined_fallback_no_retry_loop(node: Node) -> None:
    _version(node.local, "m", 2)
    _desired(node.local, {"m": {"versions": [2], "labels": {"stable": 2}}})
    node.cm.reconcile()
    _version(node.local, "m", 3, b"")  # fails to load
    _desired(node.local, {"m": {"versions": [3], "labels": {"stable": 3}, "keep": [2]}})
    result = node.cm.reconcile()
    assert result.error is None
    assert node.cm.quarantine.versions("m") == {3}
    assert node.states("m")[2] == "AVAILABLE"
    (entry,) = parse_config(node.config.read_text())
    assert entry.versions == (2,) and entry.labels == (("stable", 2),)
    quarantine = json.loads(
        (node.settings.state_dir / "configmanager" / "quarantine.json").read_text()
    )
    assert "3" in quarantine["models"]["m"]
    reloads = (
        node.cm.metrics.reloads.labels("ok")._value.get()
        + node.cm.metrics.reloads.labels("error")._value.get()
    )
    for _ in range(3):
        node.cm.reconcile()
    assert (
        node.cm.metrics.reloads.labels("ok")._value.get()
        + node.cm.metrics.reloads.labels("error")._value.get()
        == reloads
    )
    # Survives a config manager restart (state dir).
    node.cm.client.close()
    node.cm = ConfigManager(node.settings)
    assert node.cm.quarantine.versions("m") == {3}
    app = create_node_app(node.cm, "t" * 20)
    node.cm.reconcile()
    body = (
        app.test_client()
        .get("/api/v1/models", headers={"Authorization": "Bearer " + "t" * 20})
        .get_json()
    )
    model = body["models"]["m"]
    assert model["desired"] == [3] and model["local"] == [2, 3]
    assert model["quarantined"][0]["version"] == 3
    assert {"version": 2, "state": "AVAILABLE", "error": None} in model["loaded"]
    assert body["tfserving"]["reachable"] is True
    assert "quarantined" in node.cm.degraded_reasons()[0]


def test_tfserving_restart_is_detected_and_reapplied(node: Node) -> None:
    _version(node.local, "m", 1)
    _desired(node.local, {"m": {"versions": [1]}})
    node.cm.reconcile()
    node.stop_tfs()
    result = node.cm.reconcile()
    assert result.error and "unreachable" in result.error
    ready, reason = node.cm.ready()
    assert not ready and "unreachable" in reason
    assert any("unreachable" in r for r in node.cm.degraded_reasons())
    node.start_tfs()  # comes back empty, as a restarted TF Serving without the file would
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and node.cm.reconcile().error:
        time.sleep(0.1)
    assert node.states("m") == {1: "AVAILABLE"}
    assert node.cm.ready()[0]


def test_frees_disk_only_after_unload_and_only_inside_local(node: Node, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    for v in (1, 2, 3):
        _version(node.local, "m", v)
    (node.local / "m" / "7").symlink_to(outside)  # a symlinked "version": never followed
    _version(node.local, "retired", 1)
    _desired(node.local, {"m": {"versions": [1, 2], "keep": []}, "retired": {"versions": [1]}})
    node.cm.reconcile()
    assert node.states("m") == {1: "AVAILABLE", 2: "AVAILABLE"}
    assert not (node.local / "m" / "3").exists()  # not desired, NOT_FOUND in TF Serving: freed
    assert (node.local / "m" / "1").is_dir()  # AVAILABLE: never touched
    _desired(node.local, {"m": {"versions": [2], "keep": []}})
    node.cm.reconcile()
    assert not (node.local / "m" / "1").exists()  # unloaded (END) then freed
    assert not (node.local / "retired").exists()
    assert (node.local / "m" / "2").is_dir()
    assert (outside / "precious").exists()
    assert any("is not a directory" in p for p in node.cm.problems)


def test_bad_desired_json_changes_nothing(node: Node) -> None:
    _version(node.local, "m", 1)
    _desired(
        node.local,
        {"m": {"versions": [1]}, "../evil": {"versions": [1]}, "x": {"versions": ["01"]}},
    )
    node.cm.reconcile()
    assert node.states("m") == {1: "AVAILABLE"}
    assert len(node.cm.problems) == 2
    before = node.config.read_bytes()
    (node.local / ".modelfleet" / "desired.json").write_text("{not json")
    node.cm.reconcile()
    assert node.config.read_bytes() == before
    assert (node.local / "m" / "1").is_dir()
    assert any("unreadable" in r for r in node.cm.degraded_reasons())


def test_plan_fallback_and_steps() -> None:
    desired = parse_desired(
        {"schema": 1, "models": {"m": {"versions": [3], "labels": {"stable": 3}}}}
    ).models
    target, notes = compute_target(desired, {"m": [1, 2, 3]}, lambda m: {3}, {"m": {2}})
    assert target == {"m": ((2,), (("stable", 2),))}
    assert "quarantined" in notes["m"]
    target, _ = compute_target(desired, {"m": [1, 2]}, lambda m: set(), {})
    assert target == {"m": ((2,), (("stable", 2),))}  # v3 not on disk yet: newest good local
    assert transition_steps({"m": ((1,), ())}, {"m": ((1,), ())}, {"m": [1]}) == []
    assert transition_steps({"gone": ((1,), ())}, {}, {"gone": [1]}) == [{}]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LOCAL_MODEL_DIRECTORY": None}, "LOCAL_MODEL_DIRECTORY is required"),
        ({"TENSORFLOW_SERVING_CONFIG_FILE": "relative.config"}, "absolute"),
        ({"TENSORFLOW_SERVING_GRPC_TARGET": "nohost"}, "HOST:PORT"),
        ({"MODELFLEET_POLL_INTERVAL": "0"}, "greater than 0"),
    ],
)
def test_settings_errors(tmp_path: Path, overrides: dict[str, str | None], message: str) -> None:
    env = {
        "LOCAL_MODEL_DIRECTORY": str(tmp_path),
        "TENSORFLOW_SERVING_CONFIG_FILE": str(tmp_path / "models.config"),
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(SettingsError, match=message):
        ConfigManagerSettings.from_env(env=env)
