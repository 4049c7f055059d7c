"""Schemathesis against the served OpenAPI document: no 5xx, no undocumented status."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from modelfleet.master import MasterSettings, create_app


def test_document_is_served(client: FlaskClient, auth: dict) -> None:
    doc = client.get("/api/v1/openapi.json", headers=auth["readonly"]).json
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/drain-check", "/api/v1/maintenance", "/api/v1/cluster/status"):
        assert path in doc["paths"]


@pytest.fixture
def schema(settings: MasterSettings, tokens: dict) -> Any:
    app = create_app({"SETTINGS": settings})
    return schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, headers={"Authorization": f"Bearer {tokens['readonly']}"}
    ), app


def _check(operation: Any, app: Any, headers: dict[str, str]) -> Any:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(app=app)
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

    return check


def test_schemathesis(schema: Any, tokens: dict) -> None:
    loaded, app = schema
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    failures = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        try:
            _check(operation, app, headers)()
        except Exception as exc:  # collect all operations' failures
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n".join(failures)
    calls = sum(
        sample.value
        for metric in app.extensions["modelfleet"].metrics.requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert calls > 100  # the operations were really exercised
