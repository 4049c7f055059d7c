"""Fixtures of the master tests: tokens, a bucket in a temp dir, the app, the node simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelfleet.desired import DesiredState, ModelEntry, write_remote
from modelfleet.master import MasterSettings, create_app
from modelfleet.store.local import LocalStore
from modelfleet.tokens import node_token
from tests.support.helpers import make_token_file
from tests.support.nodesim import NodeSim, free_port

REPO = Path(__file__).resolve().parents[2]


MODEL = "half_plus_two"
# The port every simulated node listens on (both daemons): the master under test takes it
# as the service port of both (MODELFLEET_NODE_PORTS), as production takes 8001 and 8002.
SIM_PORT = free_port()
SIM_PORTS = {"remote_model_puller": SIM_PORT, "config_manager": SIM_PORT}


def publish(root: Path, model: str, version: int) -> None:
    vdir = root / model / str(version)
    vdir.mkdir(parents=True)
    (vdir / "saved_model.pb").write_bytes(b"x" * 10)
    manifest = {
        "schema": 1,
        "model": model,
        "version": version,
        "created_at": "2026-01-01T00:00:00Z",
        "created_by": "test",
        "total_bytes": 10,
        "files": [{"path": "saved_model.pb", "size": 10, "crc32c": "AAAAAA=="}],
    }
    (vdir / "_modelfleet.json").write_text(json.dumps(manifest))


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    return {
        name: make_token_file(tmp_path / f"{name}.token")
        for name in ("admin", "readonly", "node-key")
    }


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    for v in (1, 2, 3):
        publish(root, MODEL, v)
    entry = ModelEntry(published=(1, 2, 3), versions=(2,), labels={"stable": 2}, history=((1,),))
    state = DesiredState(models={MODEL: entry})
    write_remote(LocalStore(root), state, if_generation_match=0, updated_by="test")
    return root


def make_settings(
    tmp_path: Path, tokens: dict[str, str], bucket: Path, **kw: Any
) -> MasterSettings:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return MasterSettings(
        state_dir=state,
        remote=str(bucket),
        admin_token=tokens["admin"],
        readonly_token=tokens["readonly"],
        node_key=tokens["node-key"],
        node_ports=kw.pop("node_ports", SIM_PORTS),
        fanout_deadline=kw.pop("fanout_deadline", 1.0),
        status_cache_seconds=kw.pop("status_cache_seconds", 0.0),
        **kw,
    )


@pytest.fixture
def settings(tmp_path: Path, tokens: dict[str, str], bucket: Path) -> MasterSettings:
    return make_settings(tmp_path, tokens, bucket)


@pytest.fixture
def app(settings: MasterSettings) -> Iterator[Flask]:
    app = create_app({"SETTINGS": settings, "TESTING": True})
    yield app
    app.extensions["modelfleet"].registry.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items() if k != "node-key"}


def node_auth(key: str, hostname: str) -> dict[str, str]:
    """The Authorization header of node ``hostname`` (its own token)."""
    return {"Authorization": f"Bearer {node_token(key, hostname)}"}


def post_registration(
    client: FlaskClient, key: str, body: dict[str, Any], source: str | None = None
) -> Any:
    """POST a registration as node ``body['hostname']`` would: its own token, sent from its
    own address (``source`` overrides the address, ``key`` the key the token comes from)."""
    hostname = str(body["hostname"])
    return client.post(
        "/api/v1/nodes/register",
        json=body,
        headers=node_auth(key, hostname),
        environ_base={"REMOTE_ADDR": source or hostname},
    )


@pytest.fixture
def sim(tokens: dict[str, str]) -> Iterator[NodeSim]:
    s = NodeSim(tokens["node-key"])
    yield s
    s.close()


def register(client: FlaskClient, key: str, host: Any) -> None:
    for service in ("remote_model_puller", "config_manager"):
        body = {
            "hostname": host.hostname,
            "service": service,
            "port": host.port,
            "zone": host.zone,
            "version": "sim",
        }
        resp = post_registration(client, key, body)
        assert resp.status_code == 200, resp.json
