"""The RUNBOOK's "is it an outage?" decision tree, as code over a cluster status.

RUNBOOK, "What to do in an outage": containers up and healthy → not an outage; a couple of
restarts → not an outage; config_manager / remote_model_puller / master failing is never a
true outage (stop them if they cause issues, investigate in the morning); only tfserving
matters short term: down on a single node → take that node out (1 of many down has minimal
impact); failing on multiple/all nodes → manual intervention, escalate; last resort, stop
tfserving (search falls back, recommendations alert every 15 minutes).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXIT_CODES", "triage"]

EXIT_CODES = {
    "healthy": 0,
    "not_an_outage": 10,
    "outage_single_node": 11,
    "outage_many_nodes": 12,
}
FLAP_THRESHOLD = 3  # tfserving went down this often in the window: it is failing, not restarting


def triage(status: dict[str, Any], last_change: dict[str, Any] | None = None) -> dict[str, Any]:
    """Verdict, explanation and next steps from :func:`Cluster.status` output."""
    hosts = [h for h in status["hosts"] if not h["maintenance"]]
    in_maintenance = [h["hostname"] for h in status["hosts"] if h["maintenance"]]
    tf_down = [h["hostname"] for h in hosts if h["tfserving"]["reachable"] is False]
    flapping = [
        h["hostname"]
        for h in hosts
        if h["restarts"]["tfserving"] >= FLAP_THRESHOLD and h["hostname"] not in tf_down
    ]
    silent = [h["hostname"] for h in hosts if h["state"] == "stale"]
    restarts = [
        h["hostname"]
        for h in hosts
        if 0 < h["restarts"]["tfserving"] < FLAP_THRESHOLD or h["restarts"]["helpers"] > 0
    ]
    quarantined = sorted(
        {
            f"{model}/{q.get('version')}"
            for h in hosts
            for model, info in (h.get("models") or {}).items()
            for q in info.get("quarantined") or []
            if isinstance(q, dict)
        }
    )
    only_quarantine = {
        h["hostname"]
        for h in hosts
        if h["problems"] and all(p.endswith(": quarantined versions") for p in h["problems"])
    }
    helper_problems = [
        h["hostname"]
        for h in hosts
        if h["state"] == "degraded"
        and h["hostname"] not in restarts
        and h["hostname"] not in only_quarantine
    ]
    down = sorted(set(tf_down) | set(flapping) | set(silent))
    facts = {
        "hosts": len(hosts),
        "in_maintenance": in_maintenance,
        "tfserving_down": sorted(tf_down),
        "tfserving_flapping": sorted(flapping),
        "silent_hosts": sorted(silent),
        "restarts": sorted(restarts),
        "helper_problems": sorted(helper_problems),
        "quarantined": quarantined,
    }
    actions: list[str] = []
    if not hosts:
        verdict = "not_an_outage"
        summary = (
            "no registered nodes outside maintenance: nothing serves through this master's view"
        )
        actions.append("check that nodes register (MODELFLEET_MASTER_URL, cluster token)")
    elif not down and not restarts and not helper_problems and not quarantined:
        verdict, summary = "healthy", f"all {len(hosts)} nodes up and healthy: not an outage"
    elif not down:
        verdict = "not_an_outage"
        parts = []
        if restarts:
            parts.append(f"a couple of restarts on {', '.join(restarts[:5])}")
        if helper_problems:
            parts.append(f"helper daemons failing on {', '.join(helper_problems[:5])}")
        if quarantined:
            parts.append(
                f"version(s) {', '.join(quarantined[:5])} quarantined: they failed to load and "
                "nodes serve their last good version"
            )
            actions.append(
                "roll back so the desired state matches what is served: modelfleet rollback "
                f"{quarantined[0].split('/')[0]} — then fix or delete the broken version"
            )
        summary = "not an outage: tfserving is up everywhere; " + "; ".join(parts)
        actions += [
            "puller / config_manager / master problems are not a true outage: they restart "
            "themselves; stop one if it causes issues and investigate in the morning",
            "modelfleet status  # details per node",
        ]
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
        actions += [
            "escalate now (RUNBOOK contacts): most likely an issue with tfserving or a model "
            "that needs manual intervention",
        ]
        if last_change:
            actions.append(
                f"last desired-state change: {last_change.get('action')} "
                f"{last_change.get('target')} at {last_change.get('at')} by "
                f"{last_change.get('who')} — if it matches the start, roll back: "
                f"modelfleet rollback {last_change.get('model', 'MODEL')}"
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
    return {
        "verdict": verdict,
        "outage": verdict.startswith("outage"),
        "summary": summary,
        "actions": actions,
        "facts": facts,
        "exit_code": EXIT_CODES[verdict],
    }
