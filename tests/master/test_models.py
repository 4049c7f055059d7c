"""Remote model state through the master: reads, edits with the generation precondition,
sync fan-out after a write, delete guard, audit log."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelfleet.desired import read_remote
from modelfleet.master import MasterSettings, create_app
from modelfleet.master.remote import RemoteState
from modelfleet.store.local import LocalStore
from tests.support.nodesim import NodeSim

from .conftest import MODEL, SIM_PORT, publish, register


def desired(client: FlaskClient, auth: dict) -> tuple[dict, int]:
    r = client.get("/api/v1/desired", headers=auth["readonly"]).json
    return r["desired"]["models"][MODEL], r["generation"]


def test_read_models_versions_manifest(client: FlaskClient, auth: dict, bucket: Path) -> None:
    (bucket / MODEL / "4").mkdir()  # incomplete: no manifest
    models = client.get("/api/v1/models", headers=auth["readonly"]).json["models"]
    assert [(m["model"], m["serving"], m["desired"]["labels"]) for m in models] == [
        (MODEL, [2], {"stable": 2})
    ]
    detail = client.get(f"/api/v1/models/{MODEL}", headers=auth["readonly"]).json
    assert detail["desired"]["published"] == [1, 2, 3]
    assert client.get("/api/v1/models/nope", headers=auth["readonly"]).status_code == 404
    m = client.get(f"/api/v1/models/{MODEL}/versions/3/manifest", headers=auth["readonly"])
    assert m.status_code == 200 and m.json["files"][0]["path"] == "saved_model.pb"
    for url, code in [
        (f"/api/v1/models/{MODEL}/versions/4/manifest", 404),
        (f"/api/v1/models/{MODEL}/versions/01/manifest", 400),
        (f"/api/v1/models/{MODEL}/versions/-1/manifest", 400),
        ("/api/v1/models/..x/versions/1/manifest", 400),
    ]:
        assert client.get(url, headers=auth["readonly"]).status_code == code, url


def test_promote_rollback_label_pin_retire(client: FlaskClient, auth: dict) -> None:
    def post(op: str, body: dict) -> Any:
        return client.post(f"/api/v1/models/{MODEL}/{op}", json=body, headers=auth["admin"])

    r = post("promote", {"version": 3})
    assert r.status_code == 200, r.json
    entry, _ = desired(client, auth)
    assert entry["versions"] == [3] and entry["labels"] == {"stable": 3}
    assert entry["history"][-1] == [2]
    # canary next to stable
    r = post("labels", {"label": "canary", "version": 1})
    assert r.status_code == 200
    entry, _ = desired(client, auth)
    assert entry["versions"] == [1, 3] and entry["labels"] == {"stable": 3, "canary": 1}
    r = post("labels", {"label": "canary", "version": None})
    assert desired(client, auth)[0]["labels"] == {"stable": 3}
    # rollback to the serving set before the last change
    assert post("rollback", {}).status_code == 200
    entry, _ = desired(client, auth)
    assert entry["versions"] == [3]
    assert post("rollback", {}).status_code == 200
    assert desired(client, auth)[0]["versions"] == [2]
    # pin / unpin
    assert post("pin", {"version": 1}).status_code == 200
    entry, _ = desired(client, auth)
    assert entry["pinned"] is True and entry["versions"] == [1]
    assert post("labels", {"label": "canary", "version": 3}).status_code == 409  # pinned
    assert post("pin", {"pinned": False}).status_code == 200
    # retire
    assert post("retire", {}).status_code == 200
    assert desired(client, auth)[0]["retired"] is True
    assert post("promote", {"version": 3}).status_code == 409
    assert post("retire", {"retired": False}).status_code == 200


@pytest.mark.parametrize(
    "op, body",
    [
        ("promote", {}),
        ("promote", {"version": "1"}),  # the OpenAPI document says integer
        ("promote", {"version": 0}),
        ("promote", {"version": 1.5}),
        ("promote", {"version": True}),
        ("promote", {"version": 3, "extra": 1}),
        ("promote", {"version": 9}),  # not published → 409
        ("promote", {"version": 3, "if_generation": -1}),
        ("labels", {"label": "Stable", "version": 3}),
        ("labels", {"label": "canary"}),
        ("pin", {"pinned": "yes"}),
        ("retire", {"retired": 1}),
    ],
)
def test_bad_edits_change_nothing(client: FlaskClient, auth: dict, op: str, body: dict) -> None:
    before = desired(client, auth)
    r = client.post(f"/api/v1/models/{MODEL}/{op}", json=body, headers=auth["admin"])
    assert r.status_code in (400, 409), (body, r.status_code)
    assert r.json["error"]
    assert desired(client, auth) == before


def test_raw_non_json_body_is_400(client: FlaskClient, auth: dict) -> None:
    r = client.post(
        f"/api/v1/models/{MODEL}/promote",
        data=b"{nope",
        headers={**auth["admin"], "Content-Type": "application/json"},
    )
    assert r.status_code == 400


def test_if_generation_mismatch_is_409(client: FlaskClient, auth: dict) -> None:
    _, gen = desired(client, auth)
    r = client.post(
        f"/api/v1/models/{MODEL}/promote",
        json={"version": 3, "if_generation": gen + 5},
        headers=auth["admin"],
    )
    assert r.status_code == 409 and r.json["reason"] == "precondition_failed"
    r = client.post(
        f"/api/v1/models/{MODEL}/promote",
        json={"version": 3, "if_generation": gen},
        headers=auth["admin"],
    )
    assert r.status_code == 200 and r.json["generation"] > gen


class BarrierStore(LocalStore):
    """A LocalStore (real generation preconditions) whose reads of desired.json wait until two
    writers have both read: the race is certain, not likely."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.barrier = threading.Barrier(2, timeout=10)

    def read(self, key: str) -> tuple[bytes, int]:
        result = super().read(key)
        if key.endswith("desired.json"):
            self.barrier.wait()
        return result


def test_race_on_desired_state_gives_exactly_one_409(
    settings: MasterSettings, auth: dict, bucket: Path
) -> None:
    store = BarrierStore(bucket)
    app = create_app({"SETTINGS": settings, "REMOTE": RemoteState(store)})
    before = read_remote(LocalStore(bucket))

    def promote(version: int) -> int:
        with app.test_client() as c:
            return c.post(
                f"/api/v1/models/{MODEL}/promote", json={"version": version}, headers=auth["admin"]
            ).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(promote, [1, 3]))
    assert codes == [200, 409]
    after = read_remote(LocalStore(bucket))
    assert after.generation == before.generation + 1  # exactly one write landed
    assert after.state is not None and after.state.models[MODEL].versions in ((1,), (3,))
    audit = app.test_client().get("/api/v1/audit", headers=auth["readonly"]).json["entries"]
    outcomes = [e for e in audit if e["action"] == "promote" and e["result"] != "started"]
    assert sorted(e["status"] for e in outcomes) == [200, 409]
    intents = [e for e in audit if e["action"] == "promote" and e["result"] == "started"]
    assert len(intents) == 2  # each written before its change was tried


def test_write_fans_out_sync_now(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict
) -> None:
    port = SIM_PORT
    hosts = [sim.add_host(i, port, models={MODEL: {"2": "AVAILABLE"}}) for i in range(3)]
    for h in hosts:
        register(client, tokens["node-key"], h)
    r = client.post(f"/api/v1/models/{MODEL}/promote", json={"version": 3}, headers=auth["admin"])
    assert r.json["sync"]["targets"] == 3 and r.json["sync"]["ok"] == 3
    assert all(("POST", "/api/v1/sync") in h.calls for h in hosts)


def test_delete_version_guard(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict, bucket: Path
) -> None:
    port = SIM_PORT
    host = sim.add_host(0, port, models={MODEL: {"1": "AVAILABLE", "2": "AVAILABLE"}})
    register(client, tokens["node-key"], host)

    def delete(v: int) -> Any:
        return client.delete(f"/api/v1/models/{MODEL}/versions/{v}", headers=auth["admin"])

    r = delete(1)
    assert (
        r.status_code == 409 and r.json["reason"] == "in_use" and r.json["hosts"] == [host.hostname]
    )
    r = delete(2)  # desired and served
    assert r.status_code == 409
    host.models = {MODEL: {"2": "AVAILABLE"}}
    host.hang = True
    r = delete(1)
    assert r.status_code == 409 and r.json["reason"] == "unverified"
    host.hang = False
    r = delete(1)
    assert r.status_code == 200, r.json
    assert not (bucket / MODEL / "1").exists()
    assert desired(client, auth)[0]["published"] == [2, 3]
    assert delete(1).status_code == 404
    assert delete(3).status_code == 200  # published, never served


def test_adopts_a_complete_version_missing_from_the_catalog(
    client: FlaskClient, auth: dict, bucket: Path
) -> None:
    publish(bucket, MODEL, 7)
    r = client.post(f"/api/v1/models/{MODEL}/promote", json={"version": 7}, headers=auth["admin"])
    assert r.status_code == 200
    assert 7 in desired(client, auth)[0]["published"]


def test_audit_log(
    app: Flask, client: FlaskClient, auth: dict, tokens: dict, settings: MasterSettings
) -> None:
    client.post(
        f"/api/v1/models/{MODEL}/promote",
        json={"version": 3},
        headers={**auth["admin"], "X-Modelfleet-User": "alice"},
    )
    client.post(f"/api/v1/models/{MODEL}/promote", json={"version": 99}, headers=auth["admin"])
    client.post(f"/api/v1/models/{MODEL}/promote", json={"version": 3}, headers=auth["readonly"])
    entries = client.get("/api/v1/audit", headers=auth["readonly"]).json["entries"]
    # "who" is what the token proves; a stated user name is kept apart, unproved
    assert [
        (e["who"], e["claimed_user"], e["action"], e["result"], e["status"]) for e in entries
    ] == [
        ("admin", "alice", "promote", "started", 0),  # the intent, before the change
        ("admin", "alice", "promote", "ok", 200),
        ("admin", None, "promote", "started", 0),
        ("admin", None, "promote", "error", 409),
        ("readonly", None, "promote", "error", 403),  # refusals are audited too
    ]
    assert entries[0]["args"] == {"model": MODEL, "version": 3}
    assert entries[1]["args"] == {"model": MODEL, "version": 3} and entries[1]["model"] == MODEL
    assert entries[1]["target"] == f"{MODEL}/3"
    assert entries[1]["request"]["fields"] == ["version"] and "body" not in entries[1]
    assert "not published" in entries[3]["error"]
    lines = (settings.state_dir / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 5
    assert client.get("/api/v1/audit?limit=0", headers=auth["readonly"]).status_code == 400
    assert len(client.get("/api/v1/audit?limit=1", headers=auth["readonly"]).json["entries"]) == 1
