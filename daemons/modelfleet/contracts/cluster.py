"""What the master answers about the fleet: cluster status with structured problem codes,
triage, the drain guard, maintenance flags, audit entries and the error shape.

Producers (``modelfleet.master``) build these types and send :func:`~.schema.to_json` of
them; consumers (the CLI, the dashboard, the playbook filters, triage) read fields, never
match message strings: a :class:`Problem` carries a :data:`ProblemCode`, and the message is
for people only. The OpenAPI document's response schemas are generated from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .fields import Hostname, ModelName, Zone
from .node import QuarantinedVersion

__all__ = [
    "PROBLEM_CODES",
    "AuditEntry",
    "AuditPage",
    "CallOutcome",
    "ClusterStatus",
    "DaemonView",
    "DesiredSource",
    "DrainCapacity",
    "DrainCheck",
    "DriftFact",
    "ErrorBody",
    "HostModel",
    "HostState",
    "HostStatus",
    "Maintenance",
    "MaintenanceFlag",
    "ModelServing",
    "Problem",
    "ProblemCode",
    "RequestSummary",
    "Restarts",
    "Service",
    "Summary",
    "TFServingView",
    "Triage",
    "TriageFacts",
    "Verdict",
]

# -- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorBody:
    """Every error the master answers (any 4xx/5xx): ``error`` is one line for people,
    ``reason`` a stable code for programs when the status alone is ambiguous (409)."""

    error: str
    reason: str | None = None
    generation: int | None = None
    hosts: tuple[str, ...] | None = None


# -- problems and host status ----------------------------------------------------------------

ProblemCode = Literal[
    "daemon_unreachable",  # a registered, live daemon did not answer (timeout, refused, HTTP error)
    "daemon_stale",  # a daemon missed its heartbeats
    "daemon_missing",  # one of the host's two daemons never registered
    "tfserving_unreachable",  # the config manager cannot reach TF Serving
    "sync_failing",  # the puller's last sync failed (bucket unreachable or refused)
    "quarantined",  # versions failed to load; the node serves its last good version
    "drift",  # the host serves other versions than desired
]
PROBLEM_CODES: tuple[ProblemCode, ...] = (
    "daemon_unreachable",
    "daemon_stale",
    "daemon_missing",
    "tfserving_unreachable",
    "sync_failing",
    "quarantined",
    "drift",
)
HostState = Literal["healthy", "degraded", "down", "stale"]
Service = Literal["remote_model_puller", "config_manager"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong on a host: decided on by ``code`` (and ``service``/``model``)."""

    code: ProblemCode
    message: str
    service: Service | None = None
    model: ModelName | None = None
    versions: tuple[int, ...] = ()


@dataclass(frozen=True)
class DaemonView:
    """A registered node daemon as the registry knows it, and how its last call went."""

    hostname: Hostname
    service: Service
    port: int
    zone: Zone
    version: str
    url: str
    first_seen: float
    last_heartbeat: float
    heartbeat_age: float
    stale: bool
    maintenance: bool
    registrations: int
    returns_after_stale: int
    ok: bool | None = None
    error: str = ""
    elapsed_ms: float | None = None


@dataclass(frozen=True)
class TFServingView:
    reachable: bool | None
    error: str = ""


@dataclass(frozen=True)
class HostModel:
    """One model on one host: TF Serving's state per version, and the node's own lists."""

    loaded: Mapping[str, str]
    desired: tuple[int, ...] = ()
    local: tuple[int, ...] = ()
    quarantined: tuple[QuarantinedVersion, ...] = ()


@dataclass(frozen=True)
class Restarts:
    """Returns after being down, in the last 15 minutes."""

    tfserving: int = 0
    helpers: int = 0


@dataclass(frozen=True)
class HostStatus:
    hostname: Hostname
    zone: Zone
    maintenance: bool
    state: HostState
    services: Mapping[str, DaemonView]
    tfserving: TFServingView
    models: Mapping[str, HostModel]
    serving: Mapping[str, tuple[int, ...]]
    problems: tuple[Problem, ...]
    restarts: Restarts
    drift: tuple[str, ...] = ()

    def has(self, *codes: ProblemCode) -> bool:
        return any(p.code in codes for p in self.problems)


@dataclass(frozen=True)
class ModelServing:
    """A model across the fleet: what is desired and which hosts serve which set."""

    expected: tuple[int, ...] | None
    serving: Mapping[str, tuple[str, ...]]
    drift_hosts: tuple[str, ...]


@dataclass(frozen=True)
class DesiredSource:
    """Where the status's desired state came from: the bucket within the status deadline, a
    cached copy (the bucket was slow or failing), or nowhere."""

    source: Literal["bucket", "cache", "none"]
    generation: int = 0
    age_seconds: float | None = None
    error: str = ""


@dataclass(frozen=True)
class Summary:
    hosts: int
    daemons: int
    answered: int
    healthy: int
    degraded: int
    down: int
    stale: int
    maintenance: int
    zones: tuple[str, ...]


@dataclass(frozen=True)
class MaintenanceFlag:
    since: float
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Maintenance:
    zones: Mapping[str, MaintenanceFlag] = field(default_factory=dict)
    nodes: Mapping[str, MaintenanceFlag] = field(default_factory=dict)


# -- triage ----------------------------------------------------------------------------------

Verdict = Literal["healthy", "not_an_outage", "outage_single_node", "outage_many_nodes"]


@dataclass(frozen=True)
class DriftFact:
    """``lin: desired 2, serving 1 on 3 of 3 nodes``."""

    model: str
    desired: tuple[int, ...] | None
    serving: Mapping[str, tuple[str, ...]]
    hosts: tuple[str, ...]
    of_hosts: int


@dataclass(frozen=True)
class TriageFacts:
    hosts: int
    in_maintenance: tuple[str, ...]
    tfserving_down: tuple[str, ...]
    tfserving_flapping: tuple[str, ...]
    silent_hosts: tuple[str, ...]
    restarts: tuple[str, ...]
    helper_problems: tuple[str, ...]
    quarantined: tuple[str, ...]
    drift: tuple[DriftFact, ...]
    desired: DesiredSource


@dataclass(frozen=True)
class Triage:
    """The RUNBOOK's outage decision tree on a cluster status."""

    verdict: Verdict
    outage: bool
    summary: str
    actions: tuple[str, ...]
    facts: TriageFacts
    exit_code: int
    generated_at: float


@dataclass(frozen=True)
class ClusterStatus:
    generated_at: float
    elapsed_ms: float
    zone: str | None
    remote: str
    desired: DesiredSource
    summary: Summary
    hosts: tuple[HostStatus, ...]
    models: Mapping[str, ModelServing]
    drift: tuple[str, ...]
    stale: tuple[str, ...]
    maintenance: Maintenance
    triage: Triage


# -- drain guard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DrainCapacity:
    total_nodes: int
    nodes_in_zone: int
    healthy_serving_outside_zone: int
    share: float
    required_share: float


@dataclass(frozen=True)
class DrainCheck:
    """May a zone be drained? ``allowed`` decides; ``reasons`` says why, for people."""

    zone: Zone
    allowed: bool
    reasons: tuple[str, ...]
    capacity: DrainCapacity
    zones_in_maintenance: tuple[str, ...]


# -- fan-out results -------------------------------------------------------------------------


@dataclass(frozen=True)
class CallOutcome:
    """One master → node call: ``body`` is the node's JSON answer (None when it failed)."""

    ok: bool
    status: int
    error: str
    elapsed_ms: float
    body: Any = None


# -- audit -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSummary:
    """What the audit log keeps of a request body: its size and digest and its top-level
    field names (bounded) — never the body itself."""

    bytes: int
    sha256: str = ""
    content_type: str = ""
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    """One line of ``audit.jsonl``: every state change (its intent, then its outcome) and
    every refusal, bounded in size. ``who`` is the identity the token proved (``admin``,
    ``readonly``, ``node:<hostname>``, ``anonymous``)."""

    at: str
    who: str
    role: str | None
    action: str
    method: str
    path: str
    status: int  # 0 in a "started" entry: the intent of a change, written before it runs
    result: Literal["started", "ok", "error"]
    model: str | None = None
    target: str = ""
    args: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)
    request: RequestSummary | None = None
    error: str = ""
    remote_addr: str | None = None
    claimed_user: str | None = None  # a user name the caller stated: unproved, never "who"


@dataclass(frozen=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    count: int
