"""config_manager in-process against an in-process dev server: serving, steps, restarts, disk."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from modelfleet.configmanager import ConfigManagerSettings
from modelfleet.configmanager.observe import Live
from modelfleet.configmanager.serving import from_entries
from modelfleet.settings import SettingsError
from modelfleet.tfserving import parse_config
from modelfleet.tfserving.client import VersionStatus
from tests.configmanager.cmnode import Node, install, write_desired
from tests.support.helpers import wait_until


def _spy_reloads(node: Node) -> list[dict[str, Any]]:
    """Record every config sent, with the states TF Serving reported just before."""
    sent: list[dict[str, Any]] = []
    original = node.cm.client.reload

    def spy(config, timeout=None):  # type: ignore[no-untyped-def]
        entries = list(config)
        before = {}
        for e in entries:
            try:
                before[e.name] = node.states(e.name)
            except Exception:
                before[e.name] = {}
        sent.append({"config": from_entries(entries), "before": before})
        return original(entries, timeout=timeout)

    node.cm.client.reload = spy  # type: ignore[method-assign]
    return sent


def _file(node: Node) -> dict[str, Any]:
    return from_entries(parse_config(node.config.read_text()))


def test_serves_desired_intersect_installed_with_labels(node: Node) -> None:
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1, 2], "labels": {"stable": 1}, "keep": []}})
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


def test_unverified_directory_is_never_served(node: Node) -> None:
    """A hand-copied version (no manifest) or one with a file missing is not installed."""
    install(node.local, "m", 1)
    (node.local / "m" / "2").mkdir()
    (node.local / "m" / "2" / "saved_model.pb").write_bytes(b"hand copied")
    partial = install(node.local, "m", 3)
    (partial / "saved_model.pb").unlink()
    write_desired(node.local, {"m": {"versions": [1, 2, 3]}})
    assert node.cm.reconcile().error is None
    assert node.states("m") == {1: "AVAILABLE"}
    assert _file(node)["m"].versions == (1,)
    assert any("no _modelfleet.json" in p for p in node.cm.state.problems)
    assert any("saved_model.pb is missing" in p for p in node.cm.state.problems)


def test_upgrade_adds_moves_labels_then_drops(node: Node) -> None:
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1], "labels": {"stable": 1}}})
    node.cm.reconcile()
    sent = _spy_reloads(node)
    install(node.local, "m", 2)
    write_desired(node.local, {"m": {"versions": [2], "labels": {"stable": 2}, "keep": [1]}})
    assert node.cm.reconcile().error is None
    assert [(s["config"]["m"].versions, s["config"]["m"].labels) for s in sent] == [
        ((1, 2), (("stable", 1),)),  # add v2, the label stays on v1
        ((1, 2), (("stable", 2),)),  # move the label once v2 is AVAILABLE
        ((2,), (("stable", 2),)),  # drop v1
    ]
    # Every label was sent pointing at a version TF Serving reported AVAILABLE.
    for s in sent:
        for _label, version in s["config"]["m"].labels:
            assert s["before"]["m"].get(version) == "AVAILABLE"
    wait_until(lambda: node.states("m") == {1: "END", 2: "AVAILABLE"}, timeout=10)
    assert (node.local / "m" / "1").is_dir()  # kept: retention


def _row(version: int, state: str) -> VersionStatus:
    return VersionStatus(version=version, state=state, error_code="OK", error_message="")


@pytest.mark.parametrize(
    ("rows", "settled"),
    [
        ({"m": (_row(2, "AVAILABLE"), _row(1, "END"))}, True),
        ({"m": (_row(2, "AVAILABLE"), _row(1, "AVAILABLE"))}, False),  # old one not gone yet
        ({"m": (_row(2, "AVAILABLE"), _row(1, "UNLOADING"))}, False),
        ({"m": (_row(2, "LOADING"),)}, False),
        ({"m": (_row(2, "START"),)}, False),
        ({"m": (_row(2, "AVAILABLE"),), "gone": (_row(4, "AVAILABLE"),)}, False),
        ({}, True),
    ],
)
def test_settled_means_tfserving_stopped_moving(rows: dict, settled: bool) -> None:
    assert Live(rows).settled({"m": (2,)}) is settled


def test_looks_again_soon_while_tfserving_unloads(node: Node) -> None:
    """After a promote, status follows TF Serving's unload within a fraction of a second, not
    a poll interval later (the demo's triage said "drift" for ~8 s after every promote)."""
    node.cm.settings = dataclasses.replace(node.cm.settings, poll_interval=10.0)
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1]}})
    node.cm.reconcile()
    wait_until(lambda: node.states("m") == {1: "AVAILABLE"}, timeout=10)
    assert node.cm._next_pass_in() == 10.0
    install(node.local, "m", 2)
    write_desired(node.local, {"m": {"versions": [2], "keep": [1]}})
    assert node.cm.reconcile().error is None
    # TF Serving unloads v1 only after v2 is AVAILABLE: when the pass ends, v1 is usually
    # still on its way out (on a slow machine it may be gone already: then nothing to wait for).
    if not node.cm.state.live.settled({"m": (2,)}):
        assert node.cm._next_pass_in() < 1.0
    wait_until(lambda: node.states("m") == {1: "END", 2: "AVAILABLE"}, timeout=10)
    node.cm.reconcile()
    assert node.cm.state.live.settled({"m": (2,)})
    assert node.cm._next_pass_in() == 10.0


def test_label_never_moves_to_a_version_not_available(node: Node) -> None:
    """Desired labels a version that is not installed yet: the label stays where it serves."""
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1], "labels": {"stable": 1}}})
    node.cm.reconcile()
    sent = _spy_reloads(node)
    write_desired(node.local, {"m": {"versions": [1, 2], "labels": {"stable": 2}}})
    assert node.cm.reconcile().error is None
    assert _file(node)["m"].labels == (("stable", 1),)
    assert all(s["config"]["m"].label_map == {"stable": 1} for s in sent)
    install(node.local, "m", 2)
    assert node.cm.reconcile().error is None
    assert _file(node)["m"].labels == (("stable", 2),)
    for s in sent:
        for _label, version in s["config"]["m"].labels:
            assert s["before"]["m"].get(version) == "AVAILABLE"


def test_tfserving_restart_is_detected_and_reapplied(node: Node) -> None:
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1]}})
    node.cm.reconcile()
    node.stop_tfs()
    result = node.cm.reconcile()
    assert result.error and "unreachable" in result.error
    ready, reason = node.cm.ready()
    assert not ready and "unreachable" in reason
    assert any("unreachable" in r for r in node.cm.state.degraded_reasons())
    node.start_tfs()  # comes back empty, as a restarted TF Serving without the file would
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and node.cm.reconcile().error:
        time.sleep(0.1)
    assert node.states("m") == {1: "AVAILABLE"}
    assert node.cm.ready()[0]


def test_restarted_config_manager_resends_once(node: Node) -> None:
    """After a restart the config manager cannot know what TF Serving was told: it re-sends."""
    install(node.local, "m", 1)
    write_desired(node.local, {"m": {"versions": [1]}})
    node.cm.reconcile()
    node.restart_cm()
    sent = _spy_reloads(node)
    assert node.cm.reconcile().error is None
    assert len(sent) == 1 and sent[0]["config"]["m"].versions == (1,)
    assert node.cm.reconcile().error is None
    assert len(sent) == 1


def test_frees_disk_only_after_unload_and_only_inside_local(node: Node, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    for v in (1, 2, 3):
        install(node.local, "m", v)
    (node.local / "m" / "7").symlink_to(outside)  # a symlinked "version": never followed
    install(node.local, "retired", 1)
    write_desired(node.local, {"m": {"versions": [1, 2], "keep": []}, "retired": {"versions": [1]}})
    node.cm.reconcile()
    wait_until(lambda: node.states("m") == {1: "AVAILABLE", 2: "AVAILABLE"}, timeout=10)
    assert not (node.local / "m" / "3").exists()  # not desired, NOT_FOUND in TF Serving: freed
    assert (node.local / "m" / "1").is_dir()  # AVAILABLE: never touched
    write_desired(node.local, {"m": {"versions": [2], "keep": []}})
    node.cm.reconcile()  # v1 is still AVAILABLE right after the reload: kept this pass
    assert (node.local / "m" / "1").is_dir()
    wait_until(
        lambda: node.cm.reconcile() and not (node.local / "m" / "1").exists(),
        timeout=10,
        what="v1 unloaded (END) then freed",
    )
    wait_until(lambda: not (node.local / "retired").exists(), timeout=10)
    assert (node.local / "m" / "2").is_dir()
    assert (outside / "precious").exists()
    assert any("symlinks are never followed" in p for p in node.cm.state.problems)


def test_bad_desired_json_changes_nothing(node: Node) -> None:
    install(node.local, "m", 1)
    write_desired(
        node.local,
        {"m": {"versions": [1]}, "../evil": {"versions": [1]}, "x": {"versions": ["01"]}},
    )
    node.cm.reconcile()
    assert node.states("m") == {1: "AVAILABLE"}
    assert len(node.cm.state.problems) == 2
    before = node.config.read_bytes()
    (node.local / ".modelfleet" / "desired.json").write_text("{not json")
    node.cm.reconcile()
    assert node.config.read_bytes() == before
    assert (node.local / "m" / "1").is_dir()
    assert any("unreadable" in r for r in node.cm.state.degraded_reasons())


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
