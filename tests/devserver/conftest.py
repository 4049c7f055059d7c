"""Fixtures of the dev server tests: the SavedModel library (built once, cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.savedmodels import model_library


@pytest.fixture(scope="session")
def library(request: pytest.FixtureRequest) -> Path:
    return model_library(Path(request.config.cache.mkdir("modelfleet-savedmodels")))
