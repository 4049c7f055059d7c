"""Fold what a host's daemons answered into a typed host status with problem codes.

Pure functions over the registry entries and the fan-out results of one status pass: a
host's state and every :class:`~modelfleet.contracts.cluster.Problem` are decided here, once,
from fields — never from message text — so triage, the drain guard, the dashboard and the
playbook gates all judge a host the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from ..contracts.cluster import (
    DaemonView,
    HostModel,
    HostState,
    HostStatus,
    ModelServing,
    Problem,
    Restarts,
    Service,
    TFServingView,
)
from ..contracts.node import ConfigManagerStatus, PullerStatus
from ..contracts.node import ModelStatus as NodeModelStatus
from ..contracts.schema import ContractError, from_json
from .fanout import CallResult
from .registry import SERVICES, NodeEntry

__all__ = ["drift_problems", "drifting_hosts", "fold_host", "models_view"]

RESTART_WINDOW = 15 * 60.0
T = TypeVar("T")


def _daemon_view(describe: dict[str, Any], result: CallResult | None) -> DaemonView:
    if result is None:
        return DaemonView(**describe, ok=False, error="stale: no heartbeat")
    return DaemonView(
        **describe, ok=result.ok, error=result.error, elapsed_ms=round(result.elapsed * 1000, 1)
    )


def _host_model(info: NodeModelStatus) -> HostModel:
    return HostModel(
        loaded={str(v.version): v.state for v in info.loaded},
        desired=tuple(sorted(info.desired)),
        local=tuple(sorted(info.local)),
        quarantined=info.quarantined,
    )


def _checked(
    contract: type[T], service: Service, body: dict[str, Any] | None, problems: list[Problem]
) -> T | None:
    """A daemon's answer checked against its contract (a problem if it is not)."""
    if body is None:
        return None
    try:
        return cast(T, from_json(contract, body))
    except ContractError as exc:
        problems.append(
            Problem(
                "daemon_unreachable",
                f"{service}: status breaks its contract: {exc}",
                service=service,
            )
        )
        return None


def fold_host(
    hostname: str,
    zone: str,
    maintenance: bool,
    daemons: Iterable[tuple[NodeEntry, dict[str, Any], CallResult | None]],
    *,
    now: float,
    track_tfserving: Callable[[str, bool], int],
) -> HostStatus:
    """The status of one host from its registered daemons (entry, registry description,
    call result — None for a stale daemon that was not called)."""
    services: dict[str, DaemonView] = {}
    problems: list[Problem] = []
    bodies: dict[str, dict[str, Any]] = {}
    helper_restarts = 0
    for entry, describe, result in daemons:
        view = _daemon_view(describe, result)
        services[entry.service] = view
        helper_restarts += sum(1 for t in entry.return_times if now - t < RESTART_WINDOW)
        if view.stale:
            problems.append(
                Problem("daemon_stale", f"{entry.service}: no heartbeat", service=view.service)
            )
        elif not view.ok:
            problems.append(
                Problem("daemon_unreachable", f"{entry.service}: {view.error}", view.service)
            )
        elif result is not None and isinstance(result.body, dict):
            bodies[entry.service] = result.body
    for missing in sorted(set(SERVICES) - set(services)):
        problems.append(
            Problem("daemon_missing", f"not registered: {missing}", service=cast(Any, missing))
        )
    tfserving = TFServingView(None, "config_manager not registered")
    models: dict[str, HostModel] = {}
    serving: dict[str, tuple[int, ...]] = {}
    tf_restarts = 0
    cm = _checked(ConfigManagerStatus, "config_manager", bodies.get("config_manager"), problems)
    if cm is not None:
        tfserving = TFServingView(cm.tfserving.reachable, cm.tfserving.error or "")
        tf_restarts = track_tfserving(hostname, cm.tfserving.reachable)
        if not cm.tfserving.reachable:
            problems.append(
                Problem(
                    "tfserving_unreachable",
                    f"tfserving unreachable: {tfserving.error or 'no answer'}",
                    service="config_manager",
                )
            )
        for model, info in sorted(cm.models.items()):
            models[model] = _host_model(info)
            serving[model] = tuple(info.serving())
            if models[model].quarantined:
                versions = tuple(q.version for q in models[model].quarantined)
                problems.append(
                    Problem(
                        "quarantined",
                        f"{model}: versions {', '.join(map(str, versions))} quarantined",
                        service="config_manager",
                        model=model,
                        versions=versions,
                    )
                )
    elif "config_manager" in services:
        tfserving = TFServingView(None, "config_manager did not answer")
    puller = _checked(
        PullerStatus, "remote_model_puller", bodies.get("remote_model_puller"), problems
    )
    if puller is not None and puller.last_sync.ok is False:
        problems.append(
            Problem(
                "sync_failing",
                f"remote_model_puller: last sync failed: {puller.last_sync.error or 'no detail'}",
                service="remote_model_puller",
            )
        )
    state: HostState
    if services and all(v.stale for v in services.values()):
        state = "stale"
    elif tfserving.reachable is False:
        state = "down"
    elif problems:
        state = "degraded"
    else:
        state = "healthy"
    return HostStatus(
        hostname=hostname,
        zone=zone,
        maintenance=maintenance,
        state=state,
        services=services,
        tfserving=tfserving,
        models=models,
        serving=serving,
        problems=tuple(problems),
        restarts=Restarts(tfserving=tf_restarts, helpers=helper_restarts),
    )


def _key(versions: Iterable[int]) -> str:
    return ",".join(str(v) for v in versions) or "-"


def models_view(
    hosts: Iterable[HostStatus], expected: Mapping[str, tuple[int, ...]] | None
) -> dict[str, ModelServing]:
    """Per model: the serving sets of answering hosts outside maintenance, and the hosts
    whose set differs from the desired one (from the majority when desired is unknown)."""
    answering = [h for h in hosts if h.tfserving.reachable and not h.maintenance]
    names = set(expected or {})
    for h in answering:
        names.update(h.serving)
    out: dict[str, ModelServing] = {}
    for model in sorted(names):
        sets: dict[str, list[str]] = {}
        for h in answering:
            sets.setdefault(_key(h.serving.get(model, ())), []).append(h.hostname)
        if expected is not None:
            want = _key(expected.get(model, ()))
        else:
            want = max(sets, key=lambda k: len(sets[k])) if sets else "-"
        out[model] = ModelServing(
            expected=expected.get(model, ()) if expected is not None else None,
            serving={k: tuple(sorted(v)) for k, v in sorted(sets.items())},
            drift_hosts=tuple(sorted(x for k, v in sets.items() if k != want for x in v)),
        )
    return out


def drifting_hosts(models: Mapping[str, ModelServing]) -> dict[str, list[str]]:
    """Host → the models it drifts on (one pass over the models, not one per host)."""
    out: dict[str, list[str]] = {}
    for model, info in sorted(models.items()):
        for hostname in info.drift_hosts:
            out.setdefault(hostname, []).append(model)
    return out


def drift_problems(
    host: HostStatus,
    models: Mapping[str, ModelServing],
    drifting: Mapping[str, list[str]] | None = None,
) -> HostStatus:
    """Add a ``drift`` problem per model the host serves differently from desired."""
    drifting = drifting_hosts(models) if drifting is None else drifting
    drifted = drifting.get(host.hostname, [])
    if not drifted:
        return host
    problems = list(host.problems)
    for model in drifted:
        served = host.serving.get(model, ())
        want = models[model].expected
        wanted = "unknown" if want is None else (_key(want) if want else "nothing")
        problems.append(
            Problem(
                "drift",
                f"{model}: serving {_key(served) if served else 'nothing'}, desired {wanted}",
                model=model,
                versions=served,
            )
        )
    state = "degraded" if host.state == "healthy" else host.state
    return replace(host, drift=tuple(drifted), problems=tuple(problems), state=state)
