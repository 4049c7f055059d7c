"""Quarantine: a failing version is reported, not retried, and TF Serving's live config never
keeps naming it; re-published copies and cleared entries are tried again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from modelfleet.configmanager.api import blueprint
from modelfleet.contracts.node import ConfigManagerStatus, QuarantineClearResult, QuarantineList
from modelfleet.contracts.schema import from_json
from modelfleet.devserver import FileLoader
from modelfleet.devserver.loader import LoadError, Servable
from modelfleet.node.admin import create_node_app
from modelfleet.tfserving import parse_config
from tests.configmanager.cmnode import Node, install, write_desired
from tests.support.helpers import wait_until

TOKEN = "t" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _sent(node: Node) -> list[dict[str, tuple[int, ...]]]:
    sent: list[dict[str, tuple[int, ...]]] = []
    original = node.cm.client.reload

    def spy(config, timeout=None):  # type: ignore[no-untyped-def]
        entries = list(config)
        sent.append({e.name: e.versions for e in entries})
        return original(entries, timeout=timeout)

    node.cm.client.reload = spy  # type: ignore[method-assign]
    return sent


def _reloads(node: Node) -> float:
    m = node.cm.metrics.reloads
    return float(m.labels("ok")._value.get() + m.labels("error")._value.get())


def test_broken_version_quarantined_and_live_config_equals_models_config(node: Node) -> None:
    install(node.local, "m", 2)
    write_desired(node.local, {"m": {"versions": [2], "labels": {"stable": 2}}})
    node.cm.reconcile()
    sent = _sent(node)
    install(node.local, "m", 3, b"")  # fails to load (after one retry: LOADING meanwhile)
    write_desired(node.local, {"m": {"versions": [3], "labels": {"stable": 3}, "keep": [2]}})
    result = node.cm.reconcile()
    assert result.error is None
    assert {e.version for e in node.cm.quarantine.entries("m")} == {3}
    assert node.states("m")[2] == "AVAILABLE"
    assert node.states("m")[3] == "END"
    (entry,) = parse_config(node.config.read_text())
    assert entry.versions == (2,) and entry.labels == (("stable", 2),)
    # TF Serving was sent the config without v3 in the same pass: live config == file.
    assert sent[0] == {"m": (2, 3)} and sent[-1] == {"m": (2,)}
    assert node.cm.applier.sent is not None and node.cm.applier.sent["m"].versions == (2,)
    quarantine = json.loads(
        (node.settings.state_dir / "configmanager" / "quarantine.json").read_text()
    )
    assert quarantine["models"]["m"]["3"]["identity"]
    reloads = _reloads(node)
    for _ in range(3):
        node.cm.reconcile()
    assert _reloads(node) == reloads  # never retried on later passes
    # Survives a config manager restart (state dir); the status document follows its contract.
    node.restart_cm()
    assert {e.version for e in node.cm.quarantine.entries("m")} == {3}
    node.cm.reconcile()
    app = create_node_app(node.cm, TOKEN, blueprint(node.cm))
    body = app.test_client().get("/api/v1/models", headers=AUTH).get_json()
    status = from_json(ConfigManagerStatus, body)
    model = status.models["m"]
    assert model.desired == (3,) and model.local == (2, 3)
    assert model.quarantined[0].version == 3 and "DATA_LOSS" in model.quarantined[0].error
    assert model.serving() == [2]
    assert "3 quarantined" in model.note
    assert status.config["m"].versions == (2,) and status.in_sync
    assert status.tfserving.reachable is True
    assert "quarantined" in node.cm.state.degraded_reasons()[0]


def test_republished_version_is_tried_again(node: Node) -> None:
    install(node.local, "m", 1)
    install(node.local, "m", 2, b"")
    write_desired(node.local, {"m": {"versions": [2], "keep": [1]}})
    node.cm.reconcile()
    assert {e.version for e in node.cm.quarantine.entries("m")} == {2}
    # Deleted from the bucket: the puller drops it from desired, the config manager frees it.
    write_desired(node.local, {"m": {"versions": [1]}})
    wait_until(lambda: node.cm.reconcile() and not (node.local / "m" / "2").exists(), timeout=10)
    # Published again under the same number (another copy, another manifest).
    write_desired(node.local, {"m": {"versions": [2], "keep": [1]}})
    install(node.local, "m", 2, b"fixed saved_model.pb")
    assert node.cm.reconcile().error is None
    assert node.cm.quarantine.entries("m") == []
    wait_until(lambda: node.states("m").get(2) == "AVAILABLE", timeout=10)


def test_same_copy_reinstalled_stays_quarantined(node: Node) -> None:
    install(node.local, "m", 1)
    bad = install(node.local, "m", 2, b"")
    copy = node.tmp / "copy"
    shutil.copytree(bad, copy)
    write_desired(node.local, {"m": {"versions": [2], "keep": [1]}})
    node.cm.reconcile()
    shutil.rmtree(bad)
    shutil.copytree(copy, bad)  # the very same manifest: the same identity
    node.cm.reconcile()
    assert {e.version for e in node.cm.quarantine.entries("m")} == {2}
    assert node.cm.applier.sent is not None and node.cm.applier.sent["m"].versions == (1,)


class FlakyLoader(FileLoader):
    """Fails every load of ``flaky`` until ``healed`` (a transient failure, e.g. disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.healed = False

    def load(self, path: Path) -> Servable:
        if path.parent.name == "flaky" and not self.healed:
            raise LoadError("RESOURCE_EXHAUSTED", "out of memory (transient)")
        return super().load(path)


def test_quarantine_api_lists_and_clears_then_the_version_is_tried_again(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.stop_tfs()
    loader = FlakyLoader()
    node.loader = loader
    node.start_tfs()
    try:
        install(node.local, "flaky", 1)
        write_desired(node.local, {"flaky": {"versions": [1]}})
        loader.healed = True
        node.cm.reconcile()
        loader.healed = False
        install(node.local, "flaky", 3)
        write_desired(node.local, {"flaky": {"versions": [3], "keep": [1]}})
        node.cm.reconcile()
        app = create_node_app(node.cm, TOKEN, blueprint(node.cm)).test_client()
        listed = from_json(
            QuarantineList, app.get("/api/v1/quarantine?model=flaky", headers=AUTH).get_json()
        )
        assert [(e.model, e.version) for e in listed.quarantined] == [("flaky", 3)]
        assert "RESOURCE_EXHAUSTED" in listed.quarantined[0].error
        assert (
            app.get("/api/v1/quarantine?model=other", headers=AUTH).get_json()["quarantined"] == []
        )
        loader.healed = True
        resp = app.delete("/api/v1/quarantine/flaky/3", headers=AUTH)
        cleared = from_json(QuarantineClearResult, resp.get_json())
        assert [e.version for e in cleared.cleared] == [3]
        # TF Serving still shows v3's old END-with-error row until it starts the new load:
        # that stale row must not quarantine the version again.
        assert node.states("flaky")[3] == "END"
        assert node.cm.reconcile().error is None
        wait_until(lambda: node.states("flaky").get(3) == "AVAILABLE", timeout=10)
        assert node.cm.quarantine.entries() == []
        again = app.delete("/api/v1/quarantine/flaky", headers=AUTH).get_json()
        assert again["cleared"] == []  # idempotent
    finally:
        node.close()


def test_quarantine_api_refuses_bad_input(node: Node) -> None:
    app = create_node_app(node.cm, TOKEN, blueprint(node.cm)).test_client()
    cases: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/quarantine?model=..%2Fx", "invalid model name"),
        ("DELETE", "/api/v1/quarantine/m/03", "invalid version"),
        ("DELETE", "/api/v1/quarantine/m/0", "invalid version"),
        ("DELETE", "/api/v1/quarantine/bad%20name", "invalid model name"),
    ]
    for method, path, message in cases:
        resp = app.open(path, method=method, headers=AUTH)
        assert resp.status_code == 400, path
        assert message in resp.get_json()["error"], path
    assert app.get("/api/v1/quarantine").status_code == 401
    assert app.delete("/api/v1/quarantine/m").status_code == 401
