"""CSRF-proof browser access (in-process; the real-browser replay is in
tests/master/test_live.py): state changes take JSON bodies only and are refused when a
browser says they come from another origin; programs (no Origin, no Sec-Fetch-*) and the
dashboard (same origin) are unaffected."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.master.conftest import MODEL

RETIRE = f"/api/v1/models/{MODEL}/retire"


def desired(client: FlaskClient, auth: dict) -> dict:
    return client.get(f"/api/v1/models/{MODEL}", headers=auth["readonly"]).json["desired"]


@pytest.mark.parametrize(
    ("headers", "data", "status"),
    [
        # what a cross-origin HTML form sends
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"retired=true", 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"", 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415),
        ({"Content-Type": "text/plain"}, b'{"retired": true}', 415),
        ({}, b'{"retired": true}', 415),
        # what a browser says about a request another site made it send
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, b"{}", 403),
        ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, b"{}", 403),
        ({"Origin": "http://evil.example", "Content-Type": "application/json"}, b"{}", 403),
        ({"Origin": "null", "Content-Type": "application/json"}, b"{}", 403),
        ({"Origin": "http://localhost.evil", "Content-Type": "application/json"}, b"{}", 403),
    ],
)
def test_cross_origin_and_non_json_changes_are_refused(
    client: FlaskClient, auth: dict, tokens: dict, headers: dict, data: bytes, status: int
) -> None:
    before = desired(client, auth)
    resp = client.post(RETIRE, data=data, headers=headers, auth=("alice", tokens["admin"]))
    assert resp.status_code == status, resp.json
    assert resp.json["error"] and "\n" not in resp.json["error"]
    assert desired(client, auth) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the CLI, nodes, Ansible: no browser headers
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},  # the dashboard
        {"Sec-Fetch-Site": "none"},  # typed by the user
    ],
)
def test_same_origin_and_programs_may_change(
    client: FlaskClient, auth: dict, headers: dict
) -> None:
    resp = client.post(RETIRE, json={"retired": True}, headers={**auth["admin"], **headers})
    assert resp.status_code == 200, resp.json
    assert desired(client, auth)["retired"] is True
    # an empty body without a type is "{}" (retire's default)
    resp = client.post(f"/api/v1/models/{MODEL}/retire", headers={**auth["admin"], **headers})
    assert resp.status_code == 200, resp.json


def test_reads_are_not_blocked(client: FlaskClient, auth: dict) -> None:
    resp = client.get(
        "/api/v1/cluster/status", headers={**auth["readonly"], "Sec-Fetch-Site": "cross-site"}
    )
    assert resp.status_code == 200  # the browser keeps the answer from the other site
