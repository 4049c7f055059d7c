"""Sequences the fleet state machine found, replayed step by step (each was a real bug).

Each test drives :class:`tests.fleet.machine.FleetMachine` through the exact steps of a
failing example (shrunk by hypothesis), checking convergence after every step as the
machine does. A finding that is a race rather than a sequence is pinned down where it
lives instead:

- a retired model stayed AVAILABLE on one node for good (soak seed 1738707347 → the dev
  server's file-system source reported a model from a poll that had read the config before
  the reload removed it): ``tests/devserver/test_dev_manager.py::
  test_model_removed_during_a_poll_stays_removed``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fleet.harness import FleetHarness, InvariantWatcher
from tests.fleet.machine import FleetMachine, bind

pytestmark = pytest.mark.slow


def _replay(
    fleet: tuple[FleetHarness, InvariantWatcher], steps: list[Callable[[FleetMachine], None]]
) -> None:
    bind(*fleet)
    machine = FleetMachine()
    try:
        for step in steps:
            step(machine)
            machine.converges()
    finally:
        machine.teardown()


def test_label_on_a_version_the_config_manager_freed_is_pulled_again(
    fleet: tuple[FleetHarness, InvariantWatcher],
) -> None:
    """Found on the code before issue 9 (seed 20261201): the puller listed versions from
    memory, filled at start and by its own pulls; the config manager had freed v2 behind its
    back, so labelling v2 (canary next to v4) left every node without v2 ("drift") until the
    puller was restarted. The issue's promote 2, 3, 1, 2 is the same bug."""
    _replay(
        fleet,
        [
            lambda m: m.first_versions(first=2, second=2),
            lambda m: m.pin(model=1, pick=None),
            lambda m: m.publish(model=0, corrupt=False),
            lambda m: m.rollback(model=0),
            lambda m: m.publish(model=0, corrupt=False),
            lambda m: m.kill_daemon(node=0, role="remote_model_puller"),
            lambda m: m.unpin(model=0),
            lambda m: m.unpin(model=1),
            lambda m: m.restart_tfserving(node=6),
            lambda m: m.label_canary(model=0, pick=41),
        ],
    )


def test_promote_2_3_1_2_after_versions_were_freed(
    fleet: tuple[FleetHarness, InvariantWatcher],
) -> None:
    """The issue's own sequence: publish 4 versions, promote 2, 3, 1, 2."""
    _replay(
        fleet,
        [
            lambda m: m.first_versions(first=4, second=1),
            lambda m: m.promote(model=0, pick=1),
            lambda m: m.promote(model=0, pick=2),
            lambda m: m.promote(model=0, pick=0),
            lambda m: m.promote(model=0, pick=1),
        ],
    )
