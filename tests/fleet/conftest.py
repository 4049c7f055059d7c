"""The fleet of the model-based test: one real local fleet for the whole module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fleet.harness import FleetHarness, InvariantWatcher


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FleetHarness, InvariantWatcher]]:
    harness = FleetHarness(tmp_path_factory.mktemp("fleet"))
    harness.up()
    watcher = InvariantWatcher(harness)
    watcher.start()
    try:
        yield harness, watcher
    finally:
        watcher.stop()
        harness.down()
