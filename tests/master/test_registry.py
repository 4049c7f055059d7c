"""Registration, the registry's persistence and staleness, and auth on every endpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelfleet.master import MasterSettings, create_app

from .conftest import SIM_PORT, node_auth, post_registration

NO_AUTH = {"/healthz", "/readyz", "/metrics", "/static/<path:filename>"}
NODE1 = "10.0.0.1"


def _body(hostname: str = NODE1, service: str = "config_manager", **kw: object) -> dict:
    return {
        "hostname": hostname,
        "service": service,
        "port": SIM_PORT,
        "zone": "zone1",
        "version": "0.1.0",
        **kw,
    }


def test_register_then_list(client: FlaskClient, tokens: dict) -> None:
    resp = post_registration(client, tokens["node-key"], _body())
    assert resp.status_code == 200
    assert resp.json == {"registered": True, "maintenance": False}
    auth = {"Authorization": f"Bearer {tokens['readonly']}"}
    nodes = client.get("/api/v1/nodes", headers=auth).json["nodes"]
    assert [(n["hostname"], n["service"], n["zone"], n["stale"]) for n in nodes] == [
        (NODE1, "config_manager", "zone1", False)
    ]
    assert client.get(f"/api/v1/nodes/{NODE1}", headers=auth).status_code == 200
    assert client.get("/api/v1/nodes/nope", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "tfserving"},
        {"port": 0},
        {"port": "8002"},
        {"port": True},
        {"hostname": "a b"},
        {"hostname": "http://x"},
        {"hostname": ""},
        {"zone": "../etc"},
        {"version": 3},
    ],
)
def test_bad_registration_is_400_and_changes_nothing(
    client: FlaskClient, tokens: dict, bad: dict, app: Flask
) -> None:
    body = _body(**bad)
    resp = client.post(
        "/api/v1/nodes/register",
        json=body,
        headers=node_auth(tokens["node-key"], NODE1),
        environ_base={"REMOTE_ADDR": NODE1},
    )
    assert resp.status_code == 400
    assert "error" in resp.json
    assert app.extensions["modelfleet"].registry.nodes() == []


def test_registry_survives_restart(settings: MasterSettings, auth: dict, tokens: dict) -> None:
    first = create_app({"SETTINGS": settings})
    c = first.test_client()
    key = tokens["node-key"]
    assert post_registration(c, key, _body("10.0.0.1")).status_code == 200
    assert post_registration(c, key, _body("10.0.0.2", "remote_model_puller")).status_code == 200
    c.post("/api/v1/maintenance", json={"zone": "zone1", "enabled": True}, headers=auth["admin"])
    first.extensions["modelfleet"].registry.close()  # graceful stop
    second = create_app({"SETTINGS": settings}).test_client()
    nodes = second.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"]
    assert sorted(n["hostname"] for n in nodes) == ["10.0.0.1", "10.0.0.2"]
    assert all(n["maintenance"] for n in nodes)
    saved = json.loads((settings.state_dir / "registry.json").read_text())
    assert len(saved["nodes"]) == 2


def test_new_node_is_persisted_without_graceful_stop(
    app: Flask, client: FlaskClient, tokens: dict, settings: MasterSettings
) -> None:
    for _ in range(2):  # the second comes within the flush interval: written all the same
        post_registration(client, tokens["node-key"], _body("10.0.0.9"))
        post_registration(client, tokens["node-key"], _body("10.0.0.9", "remote_model_puller"))
    saved = json.loads((settings.state_dir / "registry.json").read_text())
    assert sorted((n["hostname"], n["service"], n["address"]) for n in saved["nodes"]) == [
        ("10.0.0.9", "config_manager", "10.0.0.9"),
        ("10.0.0.9", "remote_model_puller", "10.0.0.9"),
    ]


def test_stale_after_missed_heartbeats(
    tmp_path: Path, settings: MasterSettings, auth: dict
) -> None:
    now = [1000.0]
    app = create_app({"SETTINGS": settings})
    registry = app.extensions["modelfleet"].registry
    registry.clock = lambda: now[0]
    c = app.test_client()
    post_registration(c, settings.node_key, _body())
    now[0] += settings.stale_after + 1
    node = c.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"][0]
    assert node["stale"] is True
    post_registration(c, settings.node_key, _body())
    node = c.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"][0]
    assert node["stale"] is False and node["returns_after_stale"] == 1


def test_forget_node(client: FlaskClient, auth: dict, tokens: dict) -> None:
    post_registration(client, tokens["node-key"], _body())
    assert client.delete(f"/api/v1/nodes/{NODE1}", headers=auth["readonly"]).status_code == 403
    assert client.delete(f"/api/v1/nodes/{NODE1}", headers=auth["admin"]).json["daemons"] == 1
    assert client.get("/api/v1/nodes", headers=auth["admin"]).json["count"] == 0


# -- auth on every endpoint -------------------------------------------------------------------


def _endpoints() -> list[tuple[str, str, str]]:
    """(method, url, level) for every rule of the app, from the views' declared level."""
    from modelfleet.master.openapi import openapi_document

    ENDPOINTS = openapi_document()["paths"]

    out = []
    for path, ops in ENDPOINTS.items():
        url = (
            path.replace("{model}", "half_plus_two")
            .replace("{version}", "1")
            .replace("{hostname}", "node1")
        )
        for method, op in ops.items():
            out.append((method.upper(), url, op["x-auth-level"]))
    out += [
        ("GET", "/dashboard", "read"),
        ("GET", "/dashboard/app.js", "read"),
        ("GET", "/", "read"),
    ]
    return out


def test_every_rule_is_covered(app: Flask) -> None:
    """No endpoint escapes the auth table below (and so the OpenAPI doc)."""
    covered = {(m, u) for m, u, _ in _endpoints()}
    for rule in app.url_map.iter_rules():
        if rule.rule in NO_AUTH:
            continue
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "auth_level", None), f"{rule.rule} has no @require"
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                templ = (
                    rule.rule.replace("<model>", "half_plus_two")
                    .replace("<version>", "1")
                    .replace("<host:hostname>", "node1")
                )
                assert (method, templ) in covered, f"{method} {rule.rule} missing from OpenAPI"


@pytest.mark.parametrize(("method", "url", "level"), _endpoints())
def test_auth_on_every_endpoint(
    client: FlaskClient, auth: dict, tokens: dict, method: str, url: str, level: str
) -> None:
    auth = {**auth, "node": node_auth(tokens["node-key"], "node1")}
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": "Basic !!!"},
    ):
        resp = client.open(url, method=method, headers=headers, json={})
        assert resp.status_code == 401, (method, url, resp.status_code)
        assert resp.json["error"]
    allowed = {"read": {"admin", "readonly"}, "admin": {"admin"}, "node": {"node"}}[level]
    for role in ("admin", "readonly", "node"):
        resp = client.open(url, method=method, headers=auth[role], json={})
        if role in allowed:
            assert resp.status_code not in (401, 403), (role, method, url)
        else:
            assert resp.status_code == 403, (role, method, url)
            assert resp.json["error"]


def test_no_auth_endpoints(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert b"modelfleet_master_nodes" in client.get("/metrics").data


def test_maintenance_per_host_metric(client: FlaskClient, auth: dict, tokens: dict) -> None:
    """Alert rules join on it to keep planned work from paging (ops/prometheus/alerts.yml)."""
    for host, zone in (("10.0.1.1", "zone1"), ("10.0.1.2", "zone1"), ("10.0.1.3", "zone2")):
        assert (
            post_registration(client, tokens["node-key"], _body(host, zone=zone)).status_code == 200
        )
    set_zone = {"zone": "zone1", "enabled": True, "reason": "drain"}
    assert (
        client.post("/api/v1/maintenance", json=set_zone, headers=auth["admin"]).status_code == 200
    )
    page = client.get("/metrics").data.decode()
    assert 'modelfleet_node_maintenance{host="10.0.1.1",zone="zone1"} 1.0' in page
    assert 'modelfleet_node_maintenance{host="10.0.1.2",zone="zone1"} 1.0' in page
    assert 'modelfleet_node_maintenance{host="10.0.1.3",zone="zone2"} 0.0' in page
    set_node = {"node": "10.0.1.3", "enabled": True, "reason": "tfserving down"}
    assert (
        client.post("/api/v1/maintenance", json=set_node, headers=auth["admin"]).status_code == 200
    )
    assert (
        'modelfleet_node_maintenance{host="10.0.1.3",zone="zone2"} 1.0'
        in client.get("/metrics").data.decode()
    )


def test_basic_auth_for_browsers(client: FlaskClient, tokens: dict) -> None:
    assert client.get("/dashboard").headers["WWW-Authenticate"].startswith("Basic")
    resp = client.get("/dashboard", auth=("alice", tokens["readonly"]))
    assert resp.status_code == 200 and b"modelfleet" in resp.data


def test_tokens_never_logged(
    client: FlaskClient,
    auth: dict,
    tokens: dict,
    caplog: pytest.LogCaptureFixture,
    settings: MasterSettings,
) -> None:
    caplog.set_level(logging.DEBUG)
    post_registration(client, tokens["node-key"], _body())
    client.get("/api/v1/nodes", headers={"Authorization": f"Bearer {tokens['admin']}x"})
    client.post("/api/v1/maintenance", json={"zone": "z", "enabled": True}, headers=auth["admin"])
    text = caplog.text + (settings.state_dir / "audit.jsonl").read_text()
    text += repr(settings)
    for token in tokens.values():
        assert token not in text


def test_maintenance_answer_in_registration(client: FlaskClient, auth: dict, tokens: dict) -> None:
    client.post(
        "/api/v1/maintenance", json={"zone": "zone1", "enabled": True}, headers=auth["admin"]
    )
    resp = post_registration(client, tokens["node-key"], _body())
    assert resp.json["maintenance"] is True
