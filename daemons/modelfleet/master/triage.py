"""The RUNBOOK's "is it an outage?" decision tree, as code over typed host status.

RUNBOOK, "What to do in an outage": containers up and healthy → not an outage; a couple of
restarts → not an outage; config_manager / remote_model_puller / master failing is never a
true outage (stop them if they cause issues, investigate in the morning); only tfserving
matters short term: down on a single node → take that node out (1 of many down has minimal
impact); failing on multiple/all nodes → manual intervention, escalate; last resort, stop
tfserving (search falls back, recommendations alert every 15 minutes).

Every decision reads fields and problem codes (:mod:`.hostview`), never message text.
Drift is named — model, desired and served versions, how many nodes — because "the fleet
serves the wrong version" is a different 3 a.m. problem from "a helper daemon is down".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..contracts.cluster import (
    AuditEntry,
    DesiredSource,
    DriftFact,
    HostStatus,
    ModelServing,
    ProblemCode,
    Triage,
    TriageFacts,
    Verdict,
)

__all__ = ["EXIT_CODES", "FLAP_THRESHOLD", "HELPER_CODES", "describe_drift", "triage"]

EXIT_CODES: dict[Verdict, int] = {
    "healthy": 0,
    "not_an_outage": 10,
    "outage_single_node": 11,
    "outage_many_nodes": 12,
}
FLAP_THRESHOLD = 3  # tfserving went down this often in the window: it is failing, not restarting
HELPER_CODES: tuple[ProblemCode, ...] = (
    "daemon_unreachable",
    "daemon_stale",
    "daemon_missing",
    "sync_failing",
)


def _set(versions: Sequence[int] | str) -> str:
    if isinstance(versions, str):
        return "nothing" if versions == "-" else versions
    return ",".join(map(str, versions)) or "nothing"


def describe_drift(fact: DriftFact) -> str:
    """``lin: desired 2, serving 1 on 3 of 3 nodes``."""
    hosts = set(fact.hosts)
    drifting = [(k, hs) for k, hs in fact.serving.items() if not hosts.isdisjoint(hs)]
    drifting.sort(key=lambda item: (-len(item[1]), item[0] == "-", item[0]))
    parts = [f"{_set(key)} on {len(hosts)}" for key, hosts in drifting]
    desired = "unknown (bucket unreadable)" if fact.desired is None else _set(fact.desired)
    return f"{fact.model}: desired {desired}, serving {', '.join(parts)} of {fact.of_hosts} nodes"


def _drift(models: Mapping[str, ModelServing]) -> tuple[DriftFact, ...]:
    facts = []
    for model, info in models.items():
        if info.drift_hosts:
            facts.append(
                DriftFact(
                    model=model,
                    desired=info.expected,
                    serving=info.serving,
                    hosts=info.drift_hosts,
                    of_hosts=sum(len(h) for h in info.serving.values()),
                )
            )
    return tuple(facts)


def triage(
    all_hosts: Sequence[HostStatus],
    models: Mapping[str, ModelServing],
    desired: DesiredSource,
    last_change: AuditEntry | None,
    generated_at: float,
) -> Triage:
    """Verdict, explanation and next steps for the hosts of one status pass."""
    hosts = [h for h in all_hosts if not h.maintenance]
    tf_down = sorted(h.hostname for h in hosts if h.tfserving.reachable is False)
    flapping = sorted(
        h.hostname
        for h in hosts
        if h.restarts.tfserving >= FLAP_THRESHOLD and h.hostname not in tf_down
    )
    silent = sorted(h.hostname for h in hosts if h.state == "stale")
    restarts = sorted(
        h.hostname
        for h in hosts
        if 0 < h.restarts.tfserving < FLAP_THRESHOLD or h.restarts.helpers > 0
    )
    helper = sorted(h.hostname for h in hosts if h.state != "stale" and h.has(*HELPER_CODES))
    sync_failing = sorted(h.hostname for h in hosts if h.has("sync_failing"))
    quarantined = sorted(
        {
            f"{p.model}/{v}"
            for h in hosts
            for p in h.problems
            if p.code == "quarantined"
            for v in p.versions
        }
    )
    drift = _drift(models)
    down = sorted(set(tf_down) | set(flapping) | set(silent))
    actions: list[str] = []
    if not hosts:
        verdict: Verdict = "not_an_outage"
        summary = (
            "no registered nodes outside maintenance: nothing serves through this master's view"
        )
        actions.append("check that nodes register (MODELFLEET_MASTER_URL, cluster token)")
    elif not down and not restarts and not helper and not quarantined and not drift:
        verdict, summary = "healthy", f"all {len(hosts)} nodes up and healthy: not an outage"
    elif not down:
        verdict = "not_an_outage"
        parts = []
        for fact in drift:
            parts.append(describe_drift(fact))
            actions.append(
                f"{describe_drift(fact)} — run `modelfleet sync`; if it persists, read the "
                "pullers' last sync and errors (`modelfleet status --json`): a version that "
                "fails to load is quarantined and the node keeps its last good version"
            )
        if quarantined:
            parts.append(
                f"version(s) {', '.join(quarantined[:5])} quarantined: they failed to load and "
                "nodes serve their last good version"
            )
            actions.append(
                "roll back so the desired state matches what is served: modelfleet rollback "
                f"{quarantined[0].split('/')[0]} — then fix or delete the broken version"
            )
        if sync_failing:
            parts.append(
                f"pullers cannot sync on {', '.join(sync_failing[:5])}: nodes keep serving what "
                "they have"
            )
        other_helpers = [h for h in helper if h not in sync_failing]
        if other_helpers:
            parts.append(f"helper daemons failing on {', '.join(other_helpers[:5])}")
        if restarts:
            parts.append(f"a couple of restarts on {', '.join(restarts[:5])}")
        summary = "not an outage: tfserving is up everywhere; " + "; ".join(parts)
        if helper:
            actions.append(
                "puller / config_manager / master problems are not a true outage: they restart "
                "themselves; stop one if it causes issues and investigate in the morning"
            )
        actions.append("modelfleet status  # details per node")
    elif len(down) == 1 and len(hosts) > 1:
        host = down[0]
        verdict = "outage_single_node"
        why = "down" if host in tf_down else ("flapping" if host in flapping else "silent")
        summary = f"tfserving {why} on one node ({host}) of {len(hosts)}: minimal impact"
        actions += [
            f"take {host} out of rotation: modelfleet maintenance set --node {host} "
            "--reason 'tfserving down' (or run the drain playbook with --limit)",
            f"then look at tfserving on {host}: journalctl -u tfserving, disk, memory",
        ]
    else:
        verdict = "outage_many_nodes"
        summary = (
            f"tfserving down or failing on {len(down)} of {len(hosts)} nodes "
            f"({', '.join(down[:8])}{'…' if len(down) > 8 else ''}): outage"
        )
        actions.append(
            "escalate now (RUNBOOK contacts): most likely an issue with tfserving or a model "
            "that needs manual intervention"
        )
        if last_change is not None:
            actions.append(
                f"last desired-state change: {last_change.action} {last_change.target} at "
                f"{last_change.at} by {last_change.who} — if it matches the start, roll back: "
                f"modelfleet rollback {last_change.model or 'MODEL'}"
            )
        actions.append(
            "last resort: stop tfserving fleet-wide (search falls back, ES killswitch, "
            "recommendations alert every 15 minutes)"
        )
    if silent:
        actions.append(
            f"silent hosts (no heartbeat from their daemons): {', '.join(silent[:8])} — "
            "check them directly (tfserving on :8500)"
        )
    if desired.source != "bucket":
        age = f" (using a copy {desired.age_seconds:g}s old)" if desired.source == "cache" else ""
        actions.append(
            f"the master cannot read the desired state: {desired.error}{age} — nodes keep "
            "serving and pullers retry; check the bucket and the master's credentials"
        )
    facts = TriageFacts(
        hosts=len(hosts),
        in_maintenance=tuple(sorted(h.hostname for h in all_hosts if h.maintenance)),
        tfserving_down=tuple(tf_down),
        tfserving_flapping=tuple(flapping),
        silent_hosts=tuple(silent),
        restarts=tuple(restarts),
        helper_problems=tuple(helper),
        quarantined=tuple(quarantined),
        drift=drift,
        desired=desired,
    )
    return Triage(
        verdict=verdict,
        outage=verdict.startswith("outage"),
        summary=summary,
        actions=tuple(actions),
        facts=facts,
        exit_code=EXIT_CODES[verdict],
        generated_at=generated_at,
    )
