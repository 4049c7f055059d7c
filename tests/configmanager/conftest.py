"""Fixtures of the config manager tests: ``library`` (real SavedModels, built once) and
``node`` (:class:`tests.configmanager.cmnode.Node`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.configmanager.cmnode import Node
from tests.support.savedmodels import model_library


@pytest.fixture(scope="session")
def library(request: pytest.FixtureRequest) -> Path:
    return model_library(Path(request.config.cache.mkdir("modelfleet-savedmodels")))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    try:
        yield n
    finally:
        n.close()
