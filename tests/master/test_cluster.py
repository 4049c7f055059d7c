"""Cluster status, fan-out (deadline, partial results), sync/reload, maintenance, drain guard,
triage — against simulated nodes on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from modelfleet.master.fanout import Call, FanOut
from modelfleet.tokens import node_token
from tests.support.nodesim import NodeSim, SimHost, free_port

from .conftest import MODEL, SIM_PORT, register

PORT = SIM_PORT


def fleet(
    sim: NodeSim, client: FlaskClient, token: str, zones: list[str], **kw: Any
) -> list[SimHost]:
    hosts = []
    for i, zone in enumerate(zones):
        host = sim.add_host(i, PORT, zone=zone, models={MODEL: {"2": "AVAILABLE"}}, **kw)
        register(client, token, host)
        hosts.append(host)
    return hosts


def status(client: FlaskClient, auth: dict, **params: str) -> dict:
    resp = client.get("/api/v1/cluster/status", headers=auth["readonly"], query_string=params)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_status_all_healthy(client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict) -> None:
    fleet(sim, client, tokens["node-key"], ["zone1", "zone1", "zone2"])
    s = status(client, auth)
    assert s["summary"]["hosts"] == 3 and s["summary"]["healthy"] == 3
    assert s["models"][MODEL]["expected"] == [2]
    assert s["models"][MODEL]["serving"] == {"2": ["127.0.1.2", "127.0.1.3", "127.0.1.4"]}
    assert s["drift"] == [] and s["stale"] == []
    assert s["triage"]["verdict"] == "healthy" and s["triage"]["exit_code"] == 0
    host = s["hosts"][0]
    assert host["models"][MODEL]["loaded"] == {"2": "AVAILABLE"}
    assert set(host["services"]) == {"remote_model_puller", "config_manager"}
    z = status(client, auth, zone="zone2")
    assert [h["hostname"] for h in z["hosts"]] == ["127.0.1.4"]


def test_drift_and_partial_results_within_deadline(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict
) -> None:
    hosts = fleet(sim, client, tokens["node-key"], ["zone1", "zone1", "zone2", "zone2"])
    hosts[1].models = {MODEL: {"1": "AVAILABLE"}}  # drift
    hosts[2].hang = True  # never answers: must not delay past the deadline (1 s)
    started = time.monotonic()
    s = status(client, auth)
    assert time.monotonic() - started < 2.5
    assert s["drift"] == ["127.0.1.3"]
    assert s["models"][MODEL]["drift_hosts"] == ["127.0.1.3"]
    hung = next(h for h in s["hosts"] if h["hostname"] == "127.0.1.4")
    assert hung["services"]["config_manager"]["error"].startswith("timeout")
    assert hung["tfserving"]["reachable"] is None
    assert s["summary"]["answered"] == 6  # 2 daemons x 3 answering hosts
    drifted = next(h for h in s["hosts"] if h["hostname"] == "127.0.1.3")
    assert drifted["state"] == "degraded" and drifted["drift"] == [MODEL]


def test_fanout_engine_bounds_and_errors(tokens: dict, sim: NodeSim) -> None:
    ok = sim.add_host(0, PORT, delay=0.05)
    slow = sim.add_host(1, PORT, hang=True)
    dead = "127.0.9.9"

    def call(key: str, host: str, port: int, token: str | None = None, address: str = "") -> Call:
        token = token or node_token(tokens["node-key"], host)
        return Call(key, host, port, "GET", "/api/v1/status", address=address or host, token=token)

    calls = [
        call("ok", ok.hostname, PORT),
        call("slow", slow.hostname, PORT),
        call("dead", dead, free_port(dead)),
        call("unverified", ok.hostname, PORT, address=""),
    ]
    calls[3] = Call("unverified", ok.hostname, PORT, "GET", "/api/v1/status", token="x" * 20)
    fan = FanOut(concurrency=2, deadline=0.5)
    started = time.monotonic()
    before = len(ok.calls)
    results = fan.run(calls)
    assert time.monotonic() - started < 1.5
    assert results["ok"].ok and results["ok"].body["service"] == "remote_model_puller"
    assert results["slow"].error == "timeout after 0.5s"
    assert results["dead"].error.startswith("unreachable")
    # a call without a verified address is never made: its credential goes nowhere
    assert results["unverified"].error.startswith("unverified address")
    assert len(ok.calls) == before + 1
    wrong = FanOut(deadline=1).run([call("ok", ok.hostname, PORT, token="bad-token-bad-token")])
    assert wrong["ok"].status == 401 and not wrong["ok"].ok


def test_stale_nodes_are_not_called(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict, app: Any
) -> None:
    hosts = fleet(sim, client, tokens["node-key"], ["zone1", "zone2"])
    registry = app.extensions["modelfleet"].registry
    for n in registry.nodes():
        if n.hostname == hosts[1].hostname:
            n.last_heartbeat -= 3600
    before = len(hosts[1].calls)
    s = status(client, auth)
    assert len(hosts[1].calls) == before
    assert s["stale"] == [
        f"{hosts[1].hostname}/config_manager",
        f"{hosts[1].hostname}/remote_model_puller",
    ]
    assert s["summary"]["stale"] == 1
    assert s["triage"]["verdict"] == "outage_single_node"  # a silent host: check it directly


@pytest.mark.parametrize("op, path", [("sync", "/api/v1/sync"), ("reload", "/api/v1/reload")])
def test_sync_and_reload_fan_out(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict, op: str, path: str
) -> None:
    hosts = fleet(sim, client, tokens["node-key"], ["zone1", "zone2", "zone2"])
    resp = client.post(f"/api/v1/cluster/{op}", json={"zone": "zone2"}, headers=auth["admin"])
    assert resp.status_code == 200
    assert resp.json["targets"] == 2 and resp.json["ok"] == 2 and resp.json["failed"] == {}
    assert [("POST", path) in h.calls for h in hosts] == [False, True, True]
    resp = client.post(
        f"/api/v1/cluster/{op}", json={"node": hosts[0].hostname}, headers=auth["admin"]
    )
    assert resp.json["targets"] == 1 and ("POST", path) in hosts[0].calls
    assert (
        client.post(
            f"/api/v1/cluster/{op}", json={"zone": "../x"}, headers=auth["admin"]
        ).status_code
        == 400
    )
    assert (
        client.post(f"/api/v1/cluster/{op}", json={"bogus": 1}, headers=auth["admin"]).status_code
        == 400
    )


def test_drain_guard(client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict) -> None:
    zones = ["zone1"] + ["zone2"] * 4 + ["zone3"] * 3  # 8 hosts
    hosts = fleet(sim, client, tokens["node-key"], zones)

    def check(zone: str, **q: str) -> dict:
        resp = client.get(
            "/api/v1/drain-check", query_string={"zone": zone, **q}, headers=auth["readonly"]
        )
        assert resp.status_code == 200
        return resp.json

    ok = check("zone1")  # 7 of 8 = 87.5 % outside
    assert ok["allowed"] is True and ok["capacity"]["share"] == 0.875
    assert "no other zone is in maintenance" in ok["reasons"]
    no = check("zone2")  # 4 of 8 = 50 %
    assert no["allowed"] is False and "75% required" in no["reasons"][0]
    assert check("zone2", min_share="0.5")["allowed"] is True
    # A sick node outside the zone counts against capacity.
    hosts[5].tfserving_up = False
    hosts[6].tfserving_up = False
    assert check("zone1")["allowed"] is False  # 5 of 8 healthy outside
    hosts[5].tfserving_up = hosts[6].tfserving_up = True
    # Another zone in maintenance blocks every other drain, but not re-checking itself.
    r = client.post(
        "/api/v1/maintenance",
        json={"zone": "zone3", "enabled": True, "reason": "kernel"},
        headers=auth["admin"],
    )
    assert r.json["changed"] is True
    blocked = check("zone1")
    assert blocked["allowed"] is False
    assert any("zone3" in reason for reason in blocked["reasons"])
    assert (
        client.post(
            "/api/v1/maintenance", json={"zone": "zone3", "enabled": False}, headers=auth["admin"]
        ).json["changed"]
        is True
    )
    assert check("zone1")["allowed"] is True
    for bad in (
        {},
        {"zone": "../x"},
        {"zone": "z", "min_share": "2"},
        {"zone": "z", "min_share": "x"},
    ):
        assert (
            client.get(
                "/api/v1/drain-check", query_string=bad, headers=auth["readonly"]
            ).status_code
            == 400
        )


def test_maintenance_flags(client: FlaskClient, auth: dict) -> None:
    r = client.post(
        "/api/v1/maintenance", json={"node": "h1", "enabled": True}, headers=auth["admin"]
    )
    assert r.status_code == 200 and r.json["changed"] is True
    again = client.post(
        "/api/v1/maintenance", json={"node": "h1", "enabled": True}, headers=auth["admin"]
    )
    assert again.json["changed"] is False  # idempotent for Ansible
    m = client.get("/api/v1/maintenance", headers=auth["readonly"]).json
    assert list(m["nodes"]) == ["h1"] and m["zones"] == {}
    for bad in (
        {"enabled": True},
        {"zone": "a", "node": "b", "enabled": True},
        {"zone": "a"},
        {"zone": "a", "enabled": "yes"},
        {"zone": "a b", "enabled": True},
    ):
        assert (
            client.post("/api/v1/maintenance", json=bad, headers=auth["admin"]).status_code == 400
        )
    assert client.get("/api/v1/maintenance", headers=auth["readonly"]).json == m


def test_triage_decision_tree(client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict) -> None:
    hosts = fleet(sim, client, tokens["node-key"], ["z1", "z1", "z2", "z2", "z3"])

    def verdict() -> dict:
        return client.get("/api/v1/triage", headers=auth["readonly"]).json

    assert verdict()["verdict"] == "healthy"
    # A helper failing (puller answers 401 = misconfigured) is not an outage.
    hosts[0].hang = True
    v = verdict()
    assert v["verdict"] == "not_an_outage" and v["outage"] is False
    hosts[0].hang = False
    # tfserving restarted once on a node (down then up): a couple of restarts, not an outage.
    hosts[1].tfserving_up = False
    v = verdict()
    assert v["verdict"] == "outage_single_node" and v["exit_code"] == 11
    assert "127.0.1.3" in v["summary"] and any("maintenance set --node" in a for a in v["actions"])
    hosts[1].tfserving_up = True
    v = verdict()
    assert v["verdict"] == "not_an_outage" and v["facts"]["restarts"] == ["127.0.1.3"]
    # tfserving down on many nodes: escalate.
    for h in hosts[2:]:
        h.tfserving_up = False
    v = verdict()
    assert v["verdict"] == "outage_many_nodes" and v["exit_code"] == 12
    assert any("escalate" in a for a in v["actions"])
    # A node in maintenance is expected to be down.
    for h in hosts[2:4]:
        client.post(
            "/api/v1/maintenance", json={"node": h.hostname, "enabled": True}, headers=auth["admin"]
        )
    assert verdict()["verdict"] == "outage_single_node"


class SickStore:
    """A bucket whose desired.json reads hang while ``sick`` is set (a GCS client retrying
    for a minute); every other call goes to the real directory."""

    def __init__(self, root: Any) -> None:
        from modelfleet.store.local import LocalStore

        self.inner = LocalStore(root)
        self.url = self.inner.url
        self.sick = threading.Event()
        self.release = threading.Event()

    def read(self, key: str) -> tuple[bytes, int]:
        if self.sick.is_set() and key.endswith("desired.json"):
            self.release.wait(60)
        return self.inner.read(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_triage_and_drain_guard_answer_within_their_deadline_when_the_bucket_is_sick(
    settings: Any, tokens: dict, auth: dict, sim: NodeSim, bucket: Any
) -> None:
    from dataclasses import replace

    from modelfleet.master import create_app
    from modelfleet.master.remote import RemoteState

    store = SickStore(bucket)
    app = create_app(
        {"SETTINGS": replace(settings, fanout_deadline=1.0), "REMOTE": RemoteState(store)}
    )
    client = app.test_client()
    try:
        fleet(sim, client, tokens["node-key"], ["z1", "z2", "z2", "z2"])
        healthy = client.get("/api/v1/triage?fresh=true", headers=auth["readonly"]).json
        assert healthy["verdict"] == "healthy" and healthy["facts"]["desired"]["source"] == "bucket"
        store.sick.set()
        for path in ("/api/v1/triage?fresh=true", "/api/v1/drain-check?zone=z1"):
            started = time.monotonic()
            resp = client.get(path, headers=auth["readonly"])
            assert resp.status_code == 200
            assert time.monotonic() - started < 2.0, path  # the deadline (1 s), not a minute
        triage = client.get("/api/v1/triage?fresh=true", headers=auth["readonly"]).json
        desired = triage["facts"]["desired"]
        assert desired["source"] == "cache" and desired["generation"] > 0
        assert "did not answer within" in desired["error"]
        assert triage["verdict"] == "healthy"  # nodes serve what they should: no outage
        assert any("cannot read the desired state" in a for a in triage["actions"])
        assert client.get(path, headers=auth["readonly"]).json["allowed"] is True
    finally:
        store.release.set()
        app.extensions["modelfleet"].registry.close()


def test_problem_codes_from_node_answers(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict
) -> None:
    """Each host problem carries its code; triage and the gates decide on codes."""
    hosts = fleet(sim, client, tokens["node-key"], ["z1", "z1", "z2", "z2"])
    hosts[0].sync_ok = False
    hosts[1].models = {MODEL: {"1": "AVAILABLE"}}  # drift: desired is 2
    hosts[2].tfserving_up = False
    s = status(client, auth)
    codes = {h["hostname"]: [p["code"] for p in h["problems"]] for h in s["hosts"]}
    assert codes == {
        hosts[0].hostname: ["sync_failing"],
        hosts[1].hostname: ["drift"],
        hosts[2].hostname: ["tfserving_unreachable"],
        hosts[3].hostname: [],
    }
    drift = next(p for h in s["hosts"] for p in h["problems"] if p["code"] == "drift")
    assert drift["model"] == MODEL and drift["versions"] == [1]
    assert s["triage"]["verdict"] == "outage_single_node"
    assert s["triage"]["facts"]["helper_problems"] == [hosts[0].hostname]


def test_an_answer_that_breaks_its_contract_is_a_problem(
    client: FlaskClient, auth: dict, sim: NodeSim, tokens: dict, monkeypatch: Any
) -> None:
    hosts = fleet(sim, client, tokens["node-key"], ["z1", "z2"])

    def broken(self: SimHost) -> dict:
        return {"service": "remote_model_puller", "last_sync": "yesterday"}

    monkeypatch.setattr(SimHost, "puller_status", broken)
    s = status(client, auth)
    problems = {h["hostname"]: h["problems"] for h in s["hosts"]}
    (problem,) = problems[hosts[0].hostname]
    assert problem["code"] == "daemon_unreachable"
    assert problem["service"] == "remote_model_puller"
    assert "breaks its contract" in problem["message"]
