"""Every node converges to what the operator asked, whatever came before (invariant 8).

``test_fleet_converges`` is the bounded, seeded run of ``make test`` (a few minutes);
``test_fleet_soak`` the long one of ``make soak``, with a new seed each run unless
``MODELFLEET_FLEET_SEED`` is set — the seed is printed, and a failure says how to replay it.
Every failure found becomes a named test in ``test_fleet_regressions.py``.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as with_seed
from hypothesis.stateful import run_state_machine_as_test

from tests.fleet.harness import FleetHarness, InvariantWatcher
from tests.fleet.machine import FleetMachine, bind

pytestmark = pytest.mark.slow

BOUNDED_SEED = 20261201


def _run(
    fleet: tuple[FleetHarness, InvariantWatcher], seed: int, examples: int, steps: int
) -> None:
    bind(*fleet)
    print(f"fleet state machine: seed={seed} examples={examples} steps={steps}")
    # @seed goes on the state machine class: that is what run_state_machine_as_test reads.
    machine = with_seed(seed)(type("FleetRun", (FleetMachine,), {}))
    config = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        print_blob=True,
    )

    def test() -> None:
        run_state_machine_as_test(machine, settings=config)

    try:
        test()
    except BaseException:
        print(
            f"fleet state machine FAILED with seed={seed}: replay with "
            f"MODELFLEET_FLEET_SEED={seed} make soak PYTEST_ARGS='-k soak'"
        )
        raise


@pytest.mark.timeout(1200)
def test_fleet_converges(fleet: tuple[FleetHarness, InvariantWatcher]) -> None:
    _run(fleet, BOUNDED_SEED, examples=10, steps=12)


@pytest.mark.soak
@pytest.mark.timeout(6 * 3600)  # a long run by design (the suite's default is 10 minutes)
@pytest.mark.skipif(os.environ.get("MODELFLEET_SOAK") != "1", reason="make soak only")
def test_fleet_soak(fleet: tuple[FleetHarness, InvariantWatcher]) -> None:
    seed = int(os.environ.get("MODELFLEET_FLEET_SEED") or random.SystemRandom().randrange(2**32))
    _run(fleet, seed, examples=int(os.environ.get("MODELFLEET_FLEET_EXAMPLES", "25")), steps=40)
