"""Triage decides from problem codes and fields, never from message text, and names drift."""

from __future__ import annotations

from dataclasses import replace

from modelfleet.contracts.cluster import (
    DesiredSource,
    HostStatus,
    Problem,
    Restarts,
    TFServingView,
)
from modelfleet.master.hostview import drift_problems, models_view
from modelfleet.master.triage import triage

BUCKET = DesiredSource("bucket", 7)


def host(name: str, serving: tuple[int, ...] = (2,), **kw: object) -> HostStatus:
    base = HostStatus(
        hostname=name,
        zone="z1",
        maintenance=False,
        state="healthy",
        services={},
        tfserving=TFServingView(True),
        models={},
        serving={"lin": serving},
        problems=(),
        restarts=Restarts(),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def verdict(hosts: list[HostStatus], expected: dict | None = None, desired=BUCKET):
    models = models_view(hosts, {"lin": (2,)} if expected is None else expected)
    hosts = [drift_problems(h, models) for h in hosts]
    return triage(hosts, models, desired, None, 0.0)


def test_healthy() -> None:
    v = verdict([host("a"), host("b")])
    assert v.verdict == "healthy" and v.exit_code == 0 and v.facts.drift == ()


def test_drift_everywhere_is_named_not_helper_daemons() -> None:
    """The fleet serves v1 everywhere while v2 is desired: triage names the model, the
    desired and the served version, and says what to do — not "helper daemons failing"."""
    v = verdict([host(n, (1,)) for n in "abc"])
    assert v.verdict == "not_an_outage" and v.exit_code == 10
    assert "lin: desired 2, serving 1 on 3 of 3 nodes" in v.summary
    assert "helper daemons" not in v.summary
    assert v.facts.helper_problems == ()
    assert any(
        a.startswith("lin: desired 2, serving 1 on 3 of 3 nodes — run `modelfleet sync`")
        and "if it persists" in a
        for a in v.actions
    )
    (fact,) = v.facts.drift
    assert (fact.model, fact.desired, fact.hosts, fact.of_hosts) == (
        "lin",
        (2,),
        ("a", "b", "c"),
        3,
    )


def test_drift_on_some_nodes_and_serving_nothing() -> None:
    v = verdict([host("a", (1,)), host("b", ()), host("c")])
    assert "lin: desired 2, serving 1 on 1, nothing on 1 of 3 nodes" in v.summary


def test_decisions_ignore_message_text() -> None:
    """A message that reads like a quarantine but carries another code is judged by its
    code: the old string matching (endswith ': quarantined versions') is gone."""
    fake = Problem("daemon_unreachable", "lin: quarantined versions", service="config_manager")
    v = verdict([host("a", state="degraded", problems=(fake,)), host("b")])
    assert v.facts.quarantined == () and v.facts.helper_problems == ("a",)
    real = Problem("quarantined", "whatever text", model="lin", versions=(9,))
    v = verdict([host("a", state="degraded", problems=(real,)), host("b")])
    assert v.facts.quarantined == ("lin/9",) and v.facts.helper_problems == ()
    assert "lin/9 quarantined" in v.summary
    assert any("modelfleet rollback lin" in a for a in v.actions)


def test_sync_failing_is_not_an_outage() -> None:
    p = Problem("sync_failing", "remote_model_puller: last sync failed: 503", "remote_model_puller")
    v = verdict([host("a", state="degraded", problems=(p,)), host("b")])
    assert v.verdict == "not_an_outage"
    assert "pullers cannot sync on a" in v.summary


def test_tfserving_down_single_and_many() -> None:
    down = {"tfserving": TFServingView(False, "refused"), "state": "down"}
    v = verdict([host("a", **down), host("b"), host("c")])
    assert v.verdict == "outage_single_node" and "maintenance set --node a" in " ".join(v.actions)
    v = verdict([host("a", **down), host("b", **down), host("c")])
    assert v.verdict == "outage_many_nodes" and v.exit_code == 12
    # Hosts in maintenance are expected to be down.
    v = verdict([host("a", maintenance=True, **down), host("b", **down), host("c")])
    assert v.verdict == "outage_single_node" and v.facts.in_maintenance == ("a",)


def test_flapping_and_restarts() -> None:
    v = verdict([host("a", restarts=Restarts(tfserving=3)), host("b")])
    assert v.verdict == "outage_single_node" and v.facts.tfserving_flapping == ("a",)
    v = verdict([host("a", restarts=Restarts(tfserving=1)), host("b")])
    assert v.verdict == "not_an_outage" and v.facts.restarts == ("a",)


def test_unknown_desired_state_is_said_and_drift_judged_by_majority() -> None:
    sick = DesiredSource("none", 0, None, "the bucket did not answer within 1s")
    models = models_view([host("a"), host("b"), host("c", (1,))], None)
    assert models["lin"].expected is None and models["lin"].drift_hosts == ("c",)
    v = triage([host("a"), host("b"), host("c", (1,))], models, sick, None, 0.0)
    assert "lin: desired unknown (bucket unreadable), serving 1 on 1 of 3 nodes" in v.summary
    assert any("cannot read the desired state" in a for a in v.actions)
