from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from modelfleet.store import RemoteStore
from tests.support.storeutil import make_store

# google-api-core warns once, at import, that grpcio-status is missing (we use no gRPC to
# GCS); import it here so the project's warnings-as-errors does not trip on it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    import google.api_core.exceptions  # noqa: F401


@pytest.fixture(params=["local", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteStore:
    """The same tests run against a local directory and the GCS emulator."""
    url = request.getfixturevalue("gcs_bucket") if request.param == "gcs" else None
    return make_store(request.param, tmp_path, url)
