"""Per-node identity, probed as an attacker on the node network would (issue: registration
spoofing / SSRF). Every attack that worked with the one shared cluster token is replayed
against the master with per-node tokens; the figures are counted, not assumed:

- registrations accepted from a spoofed identity: 0;
- credentials sent to addresses nobody verified: 0 (a trap listener on every address the
  attacker asked for sees no connection, and every call a node receives carries its own
  token).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelfleet.master import MasterSettings, create_app
from modelfleet.tokens import new_secret, node_token
from tests.master.conftest import SIM_PORT, node_auth, post_registration
from tests.support.nodesim import NodeSim

VICTIM = "127.0.1.2"  # a real (simulated) node
ATTACKER = "127.0.1.3"  # another node of the fleet, holding only its own token


def body(hostname: str, service: str = "config_manager", port: int = SIM_PORT, **kw: Any) -> dict:
    return {
        "hostname": hostname,
        "service": service,
        "port": port,
        "zone": "z1",
        "version": "x",
        **kw,
    }


class Trap:
    """A listener on an address an attacker wants the master to call: counts connections."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def traps() -> Iterator[list[Trap]]:
    made = [Trap(addr, SIM_PORT) for addr in ("127.0.9.1", "127.0.9.2")]
    made.append(Trap("127.0.9.3", 22 + 20000))  # "127.0.0.1:22" stand-in: a non-service port
    yield made
    for t in made:
        t.close()


def test_spoofing_and_ssrf_are_refused(
    app: Flask, client: FlaskClient, auth: dict, tokens: dict, sim: NodeSim, traps: list[Trap]
) -> None:
    key = tokens["node-key"]
    victim = sim.add_host(int(VICTIM.rsplit(".", 1)[1]) - 2, SIM_PORT, zone="z1")
    sim.add_host(int(ATTACKER.rsplit(".", 1)[1]) - 2, SIM_PORT, zone="z2")
    assert victim.hostname == VICTIM
    for service in ("remote_model_puller", "config_manager"):
        assert post_registration(client, key, body(VICTIM, service)).status_code == 200
    registry = app.extensions["modelfleet"].registry
    before = {n.key: (n.port, n.zone, n.address) for n in registry.nodes()}
    attacker = node_auth(key, ATTACKER)  # the attacker's own, valid token

    def attempt(b: dict, headers: dict[str, str], source: str = ATTACKER) -> int:
        return client.post(
            "/api/v1/nodes/register",
            json=b,
            headers=headers,
            environ_base={"REMOTE_ADDR": source},
        ).status_code

    attacks = [
        # the shared-token attacks of the issue, now with the attacker's own token
        (body("169.254.169.254"), attacker, ATTACKER),
        (body("metadata.google.internal"), attacker, ATTACKER),
        (body("127.0.0.1", port=22), attacker, ATTACKER),
        (body("0x7f.1"), attacker, ATTACKER),
        (body("127.0.9.1"), attacker, ATTACKER),  # where a trap listens
        # overwrite the victim's entry: its port, its zone
        (body(VICTIM, port=SIM_PORT + 1), attacker, ATTACKER),
        (body(VICTIM, zone="z9"), attacker, ATTACKER),
        # the victim's name from the attacker's address, even with a stolen MAC shape
        (body(VICTIM), {"Authorization": f"Bearer mfn1.{VICTIM}.AAAA"}, ATTACKER),
        # a token made with another key (a test fleet's, an old leaked one)
        (body(ATTACKER), node_auth(new_secret(), ATTACKER), ATTACKER),
        # the attacker's own name on a port that is not its service's
        (body(ATTACKER, port=22), attacker, ATTACKER),
        (body(ATTACKER, "remote_model_puller", port=SIM_PORT + 7), attacker, ATTACKER),
        # the attacker's own name, sent from another address (a trap's)
        (body(ATTACKER), attacker, "127.0.9.2"),
        # fake healthy nodes to defeat the drain guard
        *[(body(f"10.66.0.{i}"), attacker, ATTACKER) for i in range(20)],
        # no token / the operator's read-only token
        (body(VICTIM), {}, VICTIM),
        (body(VICTIM), auth["readonly"], VICTIM),
    ]
    statuses = [attempt(b, h, src) for b, h, src in attacks]
    accepted = sum(1 for s in statuses if s == 200)
    assert accepted == 0, statuses  # FIGURE: registrations accepted from a spoofed identity
    assert set(statuses) <= {401, 403}, statuses
    after = {n.key: (n.port, n.zone, n.address) for n in registry.nodes()}
    assert after == before  # the victim's entry untouched, nothing added

    # the fleet as the master knows it: only verified daemons, all called with their own token
    status = client.get("/api/v1/cluster/status?fresh=true", headers=auth["readonly"]).json
    assert [h["hostname"] for h in status["hosts"]] == [VICTIM]
    client.post("/api/v1/cluster/sync", json={}, headers=auth["admin"])
    assert sum(t.connections for t in traps) == 0  # FIGURE: credentials sent to unverified: 0
    assert victim.calls and all(auth_ok for auth_ok in victim.authorized)
    refusals = [
        e for e in client.get("/api/v1/audit?limit=1000", headers=auth["readonly"]).json["entries"]
    ]
    assert sum(1 for e in refusals if e["action"] == "refused:nodes.register") == len(attacks)
    assert {e["who"] for e in refusals if e["status"] == 403} == {f"node:{ATTACKER}", "readonly"}


def test_names_resolve_and_the_address_is_what_gets_called(
    settings: MasterSettings, tokens: dict, sim: NodeSim
) -> None:
    """A node known by a DNS name registers from an address its name resolves to; the master
    then calls that address (with the name in Host), never a fresh resolution of the name."""
    host = sim.add_host(5, SIM_PORT)
    dns = {"node5.fleet.example": {host.hostname}}
    app = create_app({"SETTINGS": settings, "RESOLVE": lambda name: dns.get(name, set())})
    client = app.test_client()
    key = tokens["node-key"]
    ok = post_registration(client, key, body("node5.fleet.example"), source=host.hostname)
    assert ok.status_code == 200, ok.json
    elsewhere = post_registration(client, key, body("node5.fleet.example"), source="127.0.1.99")
    assert elsewhere.status_code == 403 and "does not resolve" in elsewhere.json["error"]
    dns["node5.fleet.example"] = {"127.0.9.1"}  # DNS now points elsewhere: not followed
    (call,) = [
        app.extensions["modelfleet"].cluster.call(n, "GET", "/x")
        for n in app.extensions["modelfleet"].registry.nodes()
    ]
    assert call.address == host.hostname and call.host == "node5.fleet.example"
    assert call.token == node_token(key, "node5.fleet.example")
    app.extensions["modelfleet"].registry.close()


def test_registrations_are_capped(settings: MasterSettings, tokens: dict) -> None:
    import dataclasses

    app = create_app({"SETTINGS": dataclasses.replace(settings, max_nodes=3)})
    client = app.test_client()
    key = tokens["node-key"]
    codes = [post_registration(client, key, body(f"10.0.0.{i}")).status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    # a node already registered still heartbeats
    assert post_registration(client, key, body("10.0.0.1")).status_code == 200
    app.extensions["modelfleet"].registry.close()


def test_key_rotation_accepts_the_previous_key_and_calls_with_it(
    settings: MasterSettings, tokens: dict
) -> None:
    import dataclasses

    old = tokens["node-key"]
    new = new_secret()
    app = create_app(
        {"SETTINGS": dataclasses.replace(settings, node_key=new, node_key_previous=old)}
    )
    client = app.test_client()
    assert post_registration(client, old, body("10.0.0.1")).status_code == 200
    assert post_registration(client, new, body("10.0.0.2")).status_code == 200
    services = app.extensions["modelfleet"]
    tokens_used = {
        n.hostname: services.cluster.call(n, "GET", "/x").token for n in services.registry.nodes()
    }
    assert tokens_used == {
        "10.0.0.1": node_token(old, "10.0.0.1"),  # until it registers with the new key
        "10.0.0.2": node_token(new, "10.0.0.2"),
    }
    assert post_registration(client, new, body("10.0.0.1")).status_code == 200
    (n1,) = [n for n in services.registry.nodes() if n.hostname == "10.0.0.1"]
    assert services.cluster.call(n1, "GET", "/x").token == node_token(new, "10.0.0.1")
    services.registry.close()


def test_a_trusted_proxy_supplies_the_client_address(
    settings: MasterSettings, tokens: dict
) -> None:
    """Behind the nginx front the TCP peer is the proxy: its X-Real-IP is the client. From
    anyone else, X-Real-IP is ignored (a client cannot claim another address)."""
    import dataclasses

    app = create_app(
        {"SETTINGS": dataclasses.replace(settings, trusted_proxies=frozenset({"127.0.0.1"}))}
    )
    client = app.test_client()
    key = tokens["node-key"]

    def reg(peer: str, real_ip: str) -> int:
        return client.post(
            "/api/v1/nodes/register",
            json=body("10.0.0.7"),
            headers={**node_auth(key, "10.0.0.7"), "X-Real-IP": real_ip},
            environ_base={"REMOTE_ADDR": peer},
        ).status_code

    assert reg("127.0.0.1", "10.0.0.7") == 200  # through the front
    assert reg("10.0.0.8", "10.0.0.7") == 403  # a client claiming the header itself
    assert reg("127.0.0.1", "not-an-ip") == 403
    app.extensions["modelfleet"].registry.close()
