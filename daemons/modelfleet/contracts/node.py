"""What a node daemon sends over HTTP, declared once (docs/contracts.md, "Node admin API").

Declarations only: producers send :func:`~.schema.to_json` of these types, consumers (the
master, the node simulator, the tests) check answers with
``from_json(ConfigManagerStatus, body)`` (:func:`~.schema.from_json`), which names the first
bad field; the OpenAPI document can publish their JSON Schema.

Every node daemon: ``POST <master>/api/v1/nodes/register`` with :class:`Registration` (every
heartbeat).

remote_model_puller (port 8001):

- ``GET /api/v1/status`` → :class:`PullerStatus`.

config_manager (port 8002):

- ``GET /api/v1/models`` → :class:`ConfigManagerStatus`;
- ``GET /api/v1/quarantine[?model=M][&version=V]`` → :class:`QuarantineList`;
- ``DELETE /api/v1/quarantine/<model>[/<version>]`` → :class:`QuarantineClearResult`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from .fields import Hostname, Label, ModelName, Version, Zone
from .schema import rule

__all__ = [
    "CONFIG_MANAGER",
    "NODE_SERVICES",
    "REMOTE_MODEL_PULLER",
    "ConfigManagerStatus",
    "DiskStatus",
    "LastSync",
    "LoadedVersion",
    "MasterLink",
    "ModelServingConfig",
    "ModelStatus",
    "NodeService",
    "PullFailure",
    "PullProgress",
    "PullState",
    "PullerStatus",
    "QuarantineClearResult",
    "QuarantineEntry",
    "QuarantineList",
    "QuarantinedVersion",
    "Registration",
    "TFServingReach",
    "VersionState",
]

CONFIG_MANAGER: Literal["config_manager"] = "config_manager"
REMOTE_MODEL_PULLER: Literal["remote_model_puller"] = "remote_model_puller"
NodeService = Literal["remote_model_puller", "config_manager"]
NODE_SERVICES: tuple[str, ...] = (REMOTE_MODEL_PULLER, CONFIG_MANAGER)


_ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"  # no control characters: one line


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError("port must be an integer between 1 and 65535")
    return value


def _short_text(value: str) -> str:
    if len(value) > 64 or not re.fullmatch(_ONE_LINE[1:-1], value):
        raise ValueError("must be one line of at most 64 characters")
    return value


Port = Annotated[int, rule(_port, minimum=1, maximum=65535)]
ShortText = Annotated[str, rule(_short_text, maxLength=64, pattern=_ONE_LINE)]


@dataclass(frozen=True)
class Registration:
    """``POST /api/v1/nodes/register``: a node daemon's registration and heartbeat; the
    master calls it at ``http://hostname:port``. Answered with
    :class:`~modelfleet.contracts.master_api.RegisterReply`. Fields a master does not know
    are ignored: a newer node may send more during a rolling upgrade."""

    __schema_extra__ = {"additionalProperties": True}

    hostname: Hostname
    service: NodeService
    port: Port
    zone: Zone = "default"
    version: ShortText = ""


VersionState = Literal["UNKNOWN", "START", "LOADING", "AVAILABLE", "UNLOADING", "END"]


@dataclass(frozen=True)
class MasterLink:
    """A node daemon's registration with the master (absent when no master is configured)."""

    url: str
    registered: bool
    error: str = ""


@dataclass(frozen=True)
class LoadedVersion:
    """One GetModelStatus row as the config manager last saw it; ``error`` when it failed."""

    version: Version
    state: VersionState
    error: str | None = None


@dataclass(frozen=True)
class QuarantinedVersion:
    """A version that failed to load on this node and is not served again.

    ``identity`` names the published copy that failed (a digest of its manifest): a version
    deleted and published again under the same number is another copy and is tried again.
    ``at`` is when it failed (UTC, ISO 8601).
    """

    version: Version
    error: str
    at: str = ""
    identity: str = ""


@dataclass(frozen=True)
class QuarantineEntry:
    """A :class:`QuarantinedVersion` with its model, in quarantine lists."""

    model: ModelName
    version: Version
    error: str
    at: str = ""
    identity: str = ""


@dataclass(frozen=True)
class ModelServingConfig:
    """One model of the config TF Serving was last sent (= models.config)."""

    versions: tuple[Version, ...]
    labels: dict[Label, Version] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelStatus:
    """One model on one node: desired, installed, labelled, quarantined and loaded versions;
    ``note`` says why the node serves something else than desired (a fallback)."""

    desired: tuple[Version, ...] = ()
    local: tuple[Version, ...] = ()
    labels: dict[Label, Version] = field(default_factory=dict)
    quarantined: tuple[QuarantinedVersion, ...] = ()
    loaded: tuple[LoadedVersion, ...] = ()
    note: str = ""

    def serving(self) -> list[int]:
        """Versions TF Serving reports AVAILABLE."""
        return sorted(v.version for v in self.loaded if v.state == "AVAILABLE")

    def pending(self) -> list[int]:
        """Desired versions TF Serving does not report AVAILABLE (empty: all served)."""
        available = set(self.serving())
        return [v for v in self.desired if v not in available]


@dataclass(frozen=True)
class TFServingReach:
    target: str
    reachable: bool
    error: str | None = None


@dataclass(frozen=True)
class ConfigManagerStatus:
    """``GET /api/v1/models`` of config_manager.

    ``config`` is what TF Serving was last sent, which is also what models.config holds;
    ``in_sync`` says TF Serving serves it (every version AVAILABLE), ``error`` why not.
    """

    hostname: Hostname
    zone: Zone
    tfserving: TFServingReach
    models: dict[ModelName, ModelStatus]
    config: dict[ModelName, ModelServingConfig] = field(default_factory=dict)
    in_sync: bool = False
    error: str | None = None
    master: MasterLink | None = None
    service: Literal["config_manager"] = CONFIG_MANAGER


@dataclass(frozen=True)
class QuarantineList:
    hostname: Hostname
    zone: Zone
    quarantined: tuple[QuarantineEntry, ...]
    service: Literal["config_manager"] = CONFIG_MANAGER


@dataclass(frozen=True)
class QuarantineClearResult:
    """The entries removed (none when nothing matched: clearing is idempotent)."""

    hostname: Hostname
    cleared: tuple[QuarantineEntry, ...]


# -- remote_model_puller ---------------------------------------------------------------------


@dataclass(frozen=True)
class LastSync:
    """The last sync pass: when (UTC, ISO 8601), whether it reached the bucket, why not, and
    the generation of the remote desired document it applied (0: none, the fallback)."""

    at: str | None = None
    ok: bool | None = None
    error: str = ""
    generation: int | None = None


PullState = Literal["starting", "downloading", "verifying", "installing", "installed", "cancelled"]


@dataclass(frozen=True)
class PullProgress:
    """The one pull of a model in flight (a model never has two); ``cancelling`` once its
    version is no longer wanted and it is being stopped."""

    model: ModelName
    version: Version
    bytes_done: int
    bytes_total: int
    state: PullState
    started_at: str
    cancelling: bool = False


@dataclass(frozen=True)
class PullFailure:
    """A version that is not installed and why (``reason`` labels the failure metric), with
    its backoff; ``model`` and ``version`` are null for a problem of the remote document."""

    model: ModelName | None
    version: Version | None
    reason: str
    error: str
    at: str | None = None
    attempts: int = 0
    retry_at: str | None = None


@dataclass(frozen=True)
class DiskStatus:
    free_bytes: int
    reserve_bytes: int


@dataclass(frozen=True)
class PullerStatus:
    """``GET /api/v1/status`` of remote_model_puller.

    ``local``: installed versions, read from the disk for this answer; ``desired``: the local
    desired document's models (:class:`modelfleet.localdir.DesiredModel` as JSON);
    ``pulls``: the pull in flight per model; ``errors``: versions that failed and problems of
    the remote document; ``not_installed``: what is on disk but not installed, and why.
    """

    hostname: Hostname
    zone: Zone
    remote: str
    last_sync: LastSync
    local: dict[ModelName, tuple[Version, ...]]
    desired: dict[ModelName, dict[str, object]] = field(default_factory=dict)
    pulls: tuple[PullProgress, ...] = ()
    errors: tuple[PullFailure, ...] = ()
    disk: DiskStatus = DiskStatus(-1, 0)
    not_installed: tuple[str, ...] = ()
    master: MasterLink | None = None
    service: Literal["remote_model_puller"] = REMOTE_MODEL_PULLER
