"""Registration, the registry's persistence and staleness, and auth on every endpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelfleet.master import MasterSettings, create_app

from .conftest import register

NO_AUTH = {"/healthz", "/readyz", "/metrics", "/static/<path:filename>"}


def _body(hostname: str = "node1", service: str = "config_manager", **kw: object) -> dict:
    return {
        "hostname": hostname,
        "service": service,
        "port": 8002,
        "zone": "zone1",
        "version": "0.1.0",
        **kw,
    }


def test_register_then_list(client: FlaskClient, auth: dict) -> None:
    resp = client.post("/api/v1/nodes/register", json=_body(), headers=auth["cluster"])
    assert resp.status_code == 200
    assert resp.json == {"registered": True, "maintenance": False}
    nodes = client.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"]
    assert [(n["hostname"], n["service"], n["zone"], n["stale"]) for n in nodes] == [
        ("node1", "config_manager", "zone1", False)
    ]
    assert client.get("/api/v1/nodes/node1", headers=auth["readonly"]).status_code == 200
    assert client.get("/api/v1/nodes/nope", headers=auth["readonly"]).status_code == 404


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
    client: FlaskClient, auth: dict, bad: dict, app: Flask
) -> None:
    resp = client.post("/api/v1/nodes/register", json=_body(**bad), headers=auth["cluster"])
    assert resp.status_code == 400
    assert "error" in resp.json
    assert app.extensions["modelfleet"].registry.nodes() == []


def test_registry_survives_restart(settings: MasterSettings, auth: dict) -> None:
    first = create_app({"SETTINGS": settings})
    c = first.test_client()
    c.post("/api/v1/nodes/register", json=_body("a"), headers=auth["cluster"])
    c.post(
        "/api/v1/nodes/register", json=_body("b", "remote_model_puller"), headers=auth["cluster"]
    )
    c.post("/api/v1/maintenance", json={"zone": "zone1", "enabled": True}, headers=auth["admin"])
    first.extensions["modelfleet"].registry.close()  # graceful stop
    second = create_app({"SETTINGS": settings}).test_client()
    nodes = second.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"]
    assert sorted(n["hostname"] for n in nodes) == ["a", "b"]
    assert all(n["maintenance"] for n in nodes)
    saved = json.loads((settings.state_dir / "registry.json").read_text())
    assert len(saved["nodes"]) == 2


def test_new_node_is_persisted_without_graceful_stop(
    app: Flask, client: FlaskClient, auth: dict, settings: MasterSettings
) -> None:
    client.post("/api/v1/nodes/register", json=_body("a"), headers=auth["cluster"])
    saved = json.loads((settings.state_dir / "registry.json").read_text())
    assert [n["hostname"] for n in saved["nodes"]] == ["a"]


def test_stale_after_missed_heartbeats(
    tmp_path: Path, settings: MasterSettings, auth: dict
) -> None:
    now = [1000.0]
    app = create_app({"SETTINGS": settings})
    registry = app.extensions["modelfleet"].registry
    registry.clock = lambda: now[0]
    c = app.test_client()
    c.post("/api/v1/nodes/register", json=_body("a"), headers=auth["cluster"])
    now[0] += settings.stale_after + 1
    node = c.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"][0]
    assert node["stale"] is True
    c.post("/api/v1/nodes/register", json=_body("a"), headers=auth["cluster"])
    node = c.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"][0]
    assert node["stale"] is False and node["returns_after_stale"] == 1


def test_forget_node(client: FlaskClient, auth: dict) -> None:
    client.post("/api/v1/nodes/register", json=_body("a"), headers=auth["cluster"])
    assert client.delete("/api/v1/nodes/a", headers=auth["readonly"]).status_code == 403
    assert client.delete("/api/v1/nodes/a", headers=auth["admin"]).json["daemons"] == 1
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
    client: FlaskClient, auth: dict, method: str, url: str, level: str
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": "Basic !!!"},
    ):
        resp = client.open(url, method=method, headers=headers, json={})
        assert resp.status_code == 401, (method, url, resp.status_code)
        assert resp.json["error"]
    allowed = {"read": {"admin", "readonly"}, "admin": {"admin"}, "cluster": {"cluster"}}[level]
    for role in ("admin", "readonly", "cluster"):
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


def test_maintenance_per_host_metric(client: FlaskClient, auth: dict) -> None:
    """Alert rules join on it to keep planned work from paging (ops/prometheus/alerts.yml)."""
    for host, zone in (("n1", "zone1"), ("n2", "zone1"), ("n3", "zone2")):
        body = {**_body(), "hostname": host, "zone": zone}
        assert (
            client.post("/api/v1/nodes/register", json=body, headers=auth["cluster"]).status_code
            == 200
        )
    set_zone = {"zone": "zone1", "enabled": True, "reason": "drain"}
    assert (
        client.post("/api/v1/maintenance", json=set_zone, headers=auth["admin"]).status_code == 200
    )
    page = client.get("/metrics").data.decode()
    assert 'modelfleet_node_maintenance{host="n1",zone="zone1"} 1.0' in page
    assert 'modelfleet_node_maintenance{host="n2",zone="zone1"} 1.0' in page
    assert 'modelfleet_node_maintenance{host="n3",zone="zone2"} 0.0' in page
    set_node = {"node": "n3", "enabled": True, "reason": "tfserving down"}
    assert (
        client.post("/api/v1/maintenance", json=set_node, headers=auth["admin"]).status_code == 200
    )
    assert (
        'modelfleet_node_maintenance{host="n3",zone="zone2"} 1.0'
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
    client.post("/api/v1/nodes/register", json=_body(), headers=auth["cluster"])
    client.get("/api/v1/nodes", headers={"Authorization": f"Bearer {tokens['admin']}x"})
    client.post("/api/v1/maintenance", json={"zone": "z", "enabled": True}, headers=auth["admin"])
    text = caplog.text + (settings.state_dir / "audit.jsonl").read_text()
    text += repr(settings)
    for token in tokens.values():
        assert token not in text


def test_maintenance_answer_in_registration(client: FlaskClient, auth: dict, sim) -> None:  # type: ignore[no-untyped-def]
    host = sim.add_host(
        0,
        0 or __import__("tests.support.nodesim", fromlist=["free_port"]).free_port("127.0.1.2"),
        zone="zone1",
    )
    client.post(
        "/api/v1/maintenance", json={"zone": "zone1", "enabled": True}, headers=auth["admin"]
    )
    register(client, auth["cluster"]["Authorization"].split()[1], host)
    resp = client.post("/api/v1/nodes/register", json=_body(host.hostname), headers=auth["cluster"])
    assert resp.json["maintenance"] is True
