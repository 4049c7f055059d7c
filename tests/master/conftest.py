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
from tests.support.helpers import make_token_file
from tests.support.nodesim import NodeSim

REPO = Path(__file__).resolve().parents[2]


MODEL = "half_plus_two"


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
        for name in ("admin", "readonly", "cluster")
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
        cluster_token=tokens["cluster"],
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
    return {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


@pytest.fixture
def sim(tokens: dict[str, str]) -> Iterator[NodeSim]:
    s = NodeSim(tokens["cluster"])
    yield s
    s.close()


def register(client: FlaskClient, token: str, host: Any) -> None:
    for service in ("remote_model_puller", "config_manager"):
        resp = client.post(
            "/api/v1/nodes/register",
            json={
                "hostname": host.hostname,
                "service": service,
                "port": host.port,
                "zone": host.zone,
                "version": "sim",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 200, resp.json
