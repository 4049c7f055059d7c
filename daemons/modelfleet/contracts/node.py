"""What a node daemon reports over HTTP, declared once (docs/contracts.md, "Node admin API").

Declarations only: producers send :func:`~.schema.to_json` of these types, consumers (the
master, the node simulator, the tests) check answers with
``from_json(ConfigManagerStatus, body)`` (:func:`~.schema.from_json`), which names the first
bad field; the OpenAPI document can publish their JSON Schema.

config_manager (port 8002):

- ``GET /api/v1/models`` → :class:`ConfigManagerStatus`;
- ``GET /api/v1/quarantine[?model=M][&version=V]`` → :class:`QuarantineList`;
- ``DELETE /api/v1/quarantine/<model>[/<version>]`` → :class:`QuarantineClearResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .fields import Hostname, Label, ModelName, Version, Zone

__all__ = [
    "CONFIG_MANAGER",
    "ConfigManagerStatus",
    "LoadedVersion",
    "MasterLink",
    "ModelServingConfig",
    "ModelStatus",
    "QuarantineClearResult",
    "QuarantineEntry",
    "QuarantineList",
    "QuarantinedVersion",
    "TFServingReach",
    "VersionState",
]

CONFIG_MANAGER: Literal["config_manager"] = "config_manager"

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
