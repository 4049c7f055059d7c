"""The master API's other answers: models and desired-state edits, the node registry,
sync/reload fan-outs and maintenance changes. Cluster status, triage, drain check, audit and
errors are in :mod:`.cluster`; the desired state itself in :mod:`modelfleet.desired`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..desired.document import DesiredState, ModelEntry
from .cluster import CallOutcome, DaemonView, HostStatus, Maintenance
from .fields import Hostname, ModelName, Version, Zone

__all__ = [
    "BucketVersion",
    "DesiredReply",
    "EditReply",
    "ForgetReply",
    "HostQuarantine",
    "MaintenanceChange",
    "ManifestFileView",
    "ManifestView",
    "ModelDetail",
    "ModelList",
    "ModelView",
    "NodeDetail",
    "NodeList",
    "OperationResult",
    "QuarantineClearReport",
    "QuarantineReport",
    "RegisterReply",
    "SyncSummary",
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
