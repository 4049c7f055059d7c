"""The planner alone: target with fallbacks, and the add → relabel → drop steps."""

from __future__ import annotations

from modelfleet.configmanager.plan import compute_target, transition_steps
from modelfleet.configmanager.serving import ModelServing
from modelfleet.localdir import parse_desired


def _desired(models: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_desired({"schema": 1, "models": models}).models


def test_fallback_to_what_serves_then_newest_good() -> None:
    desired = _desired({"m": {"versions": [3], "labels": {"stable": 3}}})
    target = compute_target(desired, {"m": [1, 2, 3]}, {"m": {3}}, {"m": {2}})
    assert target.config == {"m": ModelServing((2,), (("stable", 2),))}
    assert "3 quarantined" in target.notes["m"]
    target = compute_target(desired, {"m": [1, 2]}, {}, {})
    assert target.config == {"m": ModelServing((2,), (("stable", 2),))}
    assert "3 not installed yet" in target.notes["m"]
    assert compute_target(desired, {}, {}, {}).config == {}


def test_no_desired_document_serves_newest_good_installed() -> None:
    target = compute_target(None, {"a": [1, 5], "b": [2]}, {"a": {5}, "b": {2}}, {})
    assert target.config == {"a": ModelServing((1,))}


def test_labels_fall_back_to_the_newest_served_version() -> None:
    desired = _desired({"m": {"versions": [2, 3], "labels": {"stable": 2, "canary": 3}}})
    target = compute_target(desired, {"m": [2, 3]}, {"m": {3}}, {})
    assert target.config["m"].label_map == {"stable": 2, "canary": 2}


def test_steps_add_relabel_drop_and_never_drop_a_served_version_early() -> None:
    current = {"m": ModelServing((1,), (("stable", 1),)), "gone": ModelServing((4,))}
    target = {"m": ModelServing((2,), (("stable", 2),))}
    steps = transition_steps(current, target, {"m": [1, 2], "gone": [4]})
    assert steps == [
        {"m": ModelServing((1, 2), (("stable", 1),)), "gone": ModelServing((4,))},
        {"m": ModelServing((1, 2), (("stable", 2),)), "gone": ModelServing((4,))},
        target,
    ]
    same = {"m": ModelServing((1,))}
    assert transition_steps(same, same, {"m": [1]}) == []
    assert transition_steps({"gone": ModelServing((1,))}, {}, {"gone": [1]}) == [{}]
