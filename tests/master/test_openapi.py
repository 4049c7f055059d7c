"""Schemathesis over the whole master API, every check on (responses against the schemas
generated from the contracts included): no 5xx, no undocumented status, no answer that
breaks its declaration."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from modelfleet.master import MasterSettings, create_app
from modelfleet.tokens import node_token
from tests.support.nodesim import NodeSim

from .conftest import MODEL, SIM_PORT, register


def test_document_is_served(client: FlaskClient, auth: dict) -> None:
    doc = client.get("/api/v1/openapi.json", headers=auth["readonly"]).json
    assert doc["openapi"].startswith("3.1")
    for path in ("/api/v1/drain-check", "/api/v1/maintenance", "/api/v1/cluster/status"):
        assert path in doc["paths"]
    # Success answers are declared, not {"type": "object"}.
    status = doc["paths"]["/api/v1/cluster/status"]["get"]["responses"]["200"]
    assert status["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClusterStatus"
    }
    problem = doc["components"]["schemas"]["Problem"]["properties"]["code"]
    assert "drift" in problem["enum"] and "quarantined" in problem["enum"]


def _all_checks() -> list[Any]:
    st_checks.load_all_checks()
    return list(st_checks.CHECKS.get_all())


@pytest.fixture
def fleet_app(settings: MasterSettings, tokens: dict, sim: NodeSim) -> Any:
    """The app with three simulated hosts registered (one drifting), so status, triage and
    drain-check answers have hosts, problems and drift to declare."""
    app = create_app({"SETTINGS": settings})
    port = SIM_PORT
    client = app.test_client()
    for i, version in enumerate(("2", "2", "1")):
        host = sim.add_host(i, port, zone=f"z{i}", models={MODEL: {version: "AVAILABLE"}})
        register(client, tokens["node-key"], host)
    return app


def _check(
    operation: Any, app: Any, headers: dict[str, str], checks: list[Any], mode: GenerationMode
) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(app=app, checks=checks, headers=headers)

    return check


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_schemathesis_all_checks(fleet_app: Any, tokens: dict, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fleet_app, headers=headers)
    checks = _all_checks()
    assert len(checks) >= 14
    failures = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        level = operation.definition.raw.get("x-auth-level")
        token = tokens["admin"]
        if level == "node":  # the test client's address: bodies naming it may register
            token = node_token(tokens["node-key"], "127.0.0.1")
        try:
            _check(operation, fleet_app, {"Authorization": f"Bearer {token}"}, checks, mode)()
        except Exception as exc:  # collect all operations' failures
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    calls = sum(
        sample.value
        for metric in fleet_app.extensions["modelfleet"].metrics.requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert calls > 200  # the operations were really exercised
    errors = [
        sample
        for metric in fleet_app.extensions["modelfleet"].metrics.requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["status"].startswith("5")
    ]
    assert errors == []
