"""The master API's other answers: models and desired-state edits, the node registry,
sync/reload fan-outs and maintenance changes. Cluster status, triage, drain check, audit and
errors are in :mod:`.cluster`; the desired state itself in :mod:`modelfleet.desired`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from ..desired.document import DesiredState, ModelEntry
from .cluster import CallOutcome, DaemonView, HostStatus, Maintenance
from .fields import Hostname, Label, ModelName, Version, Zone
from .schema import rule

__all__ = [
    "BucketVersion",
    "DesiredReply",
    "EditReply",
    "ForgetReply",
    "HostQuarantine",
    "LabelBody",
    "MaintenanceBody",
    "MaintenanceChange",
    "ManifestFileView",
    "ManifestView",
    "ModelDetail",
    "ModelList",
    "ModelView",
    "NodeDetail",
    "NodeList",
    "OperationResult",
    "PinBody",
    "PromoteBody",
    "QuarantineClearReport",
    "QuarantineReport",
    "RegisterReply",
    "RegistrationBody",
    "RetireBody",
    "RollbackBody",
    "SyncSummary",
    "TargetBody",
]


@dataclass(frozen=True)
class ModelView:
    """A model's desired-state entry and what nodes should serve from it."""

    model: ModelName
    desired: ModelEntry
    serving: tuple[Version, ...]


@dataclass(frozen=True)
class ModelList:
    models: tuple[ModelView, ...]
    generation: int


@dataclass(frozen=True)
class BucketVersion:
    version: Version
    complete: bool


@dataclass(frozen=True)
class ModelDetail:
    model: ModelName
    desired: ModelEntry
    serving: tuple[Version, ...]
    generation: int
    bucket_versions: tuple[BucketVersion, ...]


@dataclass(frozen=True)
class DesiredReply:
    generation: int
    desired: DesiredState


@dataclass(frozen=True)
class SyncSummary:
    """The "sync now" fan-out to pullers that follows a change of desired state."""

    targets: int
    ok: int
    failed: Mapping[str, CallOutcome]
    skipped_stale: tuple[str, ...]


@dataclass(frozen=True)
class EditReply:
    """The result of one edit: the new entry and generation; ``changed`` is false when the
    state already was what was asked (nothing written, no sync)."""

    model: ModelName
    op: str
    generation: int
    changed: bool
    entry: ModelView
    adopted: tuple[Version, ...] = ()
    sync: SyncSummary | None = None
    deleted_objects: int | None = None


@dataclass(frozen=True)
class ManifestFileView:
    path: str
    size: int
    crc32c: str


@dataclass(frozen=True)
class ManifestView:
    """``<model>/<version>/_modelfleet.json`` as the master serves it."""

    schema: Literal[1]
    model: ModelName
    version: Version
    created_at: str
    created_by: str
    total_bytes: int
    files: tuple[ManifestFileView, ...]


@dataclass(frozen=True)
class OperationResult:
    """``sync`` (pullers) or ``reload`` (config managers) on every target daemon."""

    op: Literal["sync", "reload"]
    targets: int
    ok: int
    failed: Mapping[str, CallOutcome]
    skipped_stale: tuple[str, ...]
    results: Mapping[str, CallOutcome]


@dataclass(frozen=True)
class NodeList:
    nodes: tuple[DaemonView, ...]
    count: int


@dataclass(frozen=True)
class NodeDetail:
    hostname: Hostname
    daemons: tuple[DaemonView, ...]
    status: HostStatus | None


@dataclass(frozen=True)
class ForgetReply:
    forgotten: Hostname
    daemons: int


@dataclass(frozen=True)
class RegisterReply:
    registered: bool
    maintenance: bool


@dataclass(frozen=True)
class MaintenanceChange:
    """Idempotent for Ansible: ``changed`` says whether anything changed."""

    enabled: bool
    changed: bool
    maintenance: Maintenance
    zone: Zone | None = None
    node: Hostname | None = None


# -- request bodies --------------------------------------------------------------------------


def _check_generation(value: int) -> int:
    if not 0 <= value < 2**63:
        raise ValueError("if_generation must be a non-negative integer")
    return value


def _check_deadline(value: float) -> float:
    if not 0 < value <= 60:
        raise ValueError("deadline must be a number of seconds in (0, 60]")
    return value


_ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"  # no control characters: one line


def _check_reason(value: str) -> str:
    if len(value) > 500 or not re.fullmatch(_ONE_LINE[1:-1], value):
        raise ValueError("reason must be one line of at most 500 characters")
    return value


Generation = Annotated[
    int,
    rule(
        _check_generation,
        minimum=0,
        maximum=2**63 - 1,
        description="fail with 409 unless desired.json is at this generation",
    ),
]
Deadline = Annotated[float, rule(_check_deadline, exclusiveMinimum=0, maximum=60)]
Reason = Annotated[str, rule(_check_reason, maxLength=500, pattern=_ONE_LINE)]


@dataclass(frozen=True)
class PromoteBody:
    """Serve exactly ``version``, labelled stable."""

    version: Version
    if_generation: Generation | None = None


@dataclass(frozen=True)
class RollbackBody:
    if_generation: Generation | None = None


@dataclass(frozen=True)
class PinBody:
    """Pin (to ``version`` if given) or, with ``pinned: false``, unpin (no version then)."""

    __schema_extra__ = {
        "anyOf": [
            {"properties": {"pinned": {"const": True}}},
            {"properties": {"version": {"type": "null"}}},
        ]
    }

    pinned: bool = True
    version: Version | None = None
    if_generation: Generation | None = None


@dataclass(frozen=True)
class LabelBody:
    """Point ``label`` at ``version``; ``version: null`` removes the label."""

    label: Label
    version: Version | None
    if_generation: Generation | None = None


@dataclass(frozen=True)
class RetireBody:
    retired: bool = True
    if_generation: Generation | None = None


@dataclass(frozen=True)
class TargetBody:
    """Which daemons a fan-out reaches: all, a zone or a node."""

    zone: Zone | None = None
    node: Hostname | None = None
    deadline: Deadline | None = None


@dataclass(frozen=True)
class MaintenanceBody:
    """Exactly one of ``zone`` or ``node``."""

    __schema_extra__ = {
        "oneOf": [
            {"required": ["zone"], "properties": {"zone": {"type": "string"}}},
            {"required": ["node"], "properties": {"node": {"type": "string"}}},
        ]
    }

    enabled: bool
    zone: Zone | None = None
    node: Hostname | None = None
    reason: Reason = ""


def _check_port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError("port must be an integer between 1 and 65535")
    return value


def _check_short(value: str) -> str:
    if len(value) > 64 or not re.fullmatch(_ONE_LINE[1:-1], value):
        raise ValueError("must be one line of at most 64 characters")
    return value


Port = Annotated[int, rule(_check_port, minimum=1, maximum=65535)]
ShortText = Annotated[str, rule(_check_short, maxLength=64, pattern=_ONE_LINE)]


@dataclass(frozen=True)
class RegistrationBody:
    """``POST /api/v1/nodes/register`` as the master checks it (the node side's own
    declaration replaces this one when it lands in ``contracts.node``). Fields this master
    does not know are ignored: a newer node may send more during a rolling upgrade."""

    __schema_extra__ = {"additionalProperties": True}

    hostname: Hostname
    service: Literal["remote_model_puller", "config_manager"]
    port: Port
    zone: Zone = "default"
    version: ShortText = ""


# -- quarantine (master/views_quarantine.py) -------------------------------------------------


@dataclass(frozen=True)
class HostQuarantine:
    """A version quarantined on one host (a node's :class:`~.node.QuarantineEntry`)."""

    hostname: Hostname
    zone: Zone
    model: ModelName
    version: Version
    error: str
    at: str = ""
    identity: str = ""


@dataclass(frozen=True)
class QuarantineReport:
    """``GET /api/v1/quarantine``: entries of every config manager that answered."""

    entries: tuple[HostQuarantine, ...]
    targets: int
    answered: int
    failed: Mapping[str, CallOutcome]
    skipped_stale: tuple[str, ...]


@dataclass(frozen=True)
class QuarantineClearReport:
    """``DELETE /api/v1/quarantine/<model>[/<version>]``: what each config manager cleared
    (the versions are tried again at once); ``failed`` lists nodes that did not answer."""

    model: ModelName
    version: Version | None
    cleared: tuple[HostQuarantine, ...]
    targets: int
    ok: int
    failed: Mapping[str, CallOutcome]
    skipped_stale: tuple[str, ...]
