"""What a node daemon reports over HTTP, declared once (docs/contracts.md, "Node admin API").

The config manager builds these types and serialises them with ``to_json()``; the master,
the node simulator and the tests parse its answers with ``from_json()``, which raises
:class:`ContractError` naming the first field that is wrong. Extra fields are ignored when
parsing, so a newer daemon can add fields without breaking an older master.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONFIG_MANAGER",
    "ConfigManagerStatus",
    "ContractError",
    "LoadedVersion",
    "ModelServingConfig",
    "ModelStatus",
    "QuarantineClearResult",
    "QuarantineEntry",
    "QuarantineList",
    "TFServingReach",
]

CONFIG_MANAGER = "config_manager"
VERSION_STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END", "UNKNOWN")


class ContractError(ValueError):
    """A document that does not follow its contract (the message names the field)."""


def _obj(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ContractError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def _str(data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{where}.{key}: expected a string")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{where}: expected an integer")
    return value


def _ints(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ContractError(f"{where}: expected a list of integers")
    return tuple(_int(v, f"{where}[]") for v in value)


def _labels(value: Any, where: str) -> dict[str, int]:
    return {str(k): _int(v, f"{where}.{k}") for k, v in _obj(value, where).items()}


@dataclass(frozen=True)
class LoadedVersion:
    """One GetModelStatus row as the config manager last saw it."""

    version: int
    state: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "state": self.state, "error": self.error}

    @classmethod
    def from_json(cls, data: Any, where: str = "loaded") -> LoadedVersion:
        d = _obj(data, where)
        state = _str(d, "state", where)
        if state not in VERSION_STATES:
            raise ContractError(f"{where}.state: {state!r} is not a TF Serving version state")
        return cls(
            _int(d.get("version"), f"{where}.version"),
            state,
            _str(d, "error", where, optional=True),
        )


@dataclass(frozen=True)
class QuarantineEntry:
    """A version that failed to load on this node and is not served again.

    ``identity`` names the published copy that failed (a digest of its manifest): a version
    deleted and published again under the same number has another identity and is tried
    again. ``at`` is when it failed (UTC, ISO 8601).
    """

    model: str
    version: int
    error: str
    at: str
    identity: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "error": self.error,
            "at": self.at,
            "identity": self.identity,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "quarantined") -> QuarantineEntry:
        d = _obj(data, where)
        return cls(
            model=_str(d, "model", where),
            version=_int(d.get("version"), f"{where}.version"),
            error=_str(d, "error", where),
            at=_str(d, "at", where),
            identity=_str(d, "identity", where, optional=True) or "",
        )


@dataclass(frozen=True)
class ModelServingConfig:
    """One model of the config TF Serving was last sent (= models.config)."""

    versions: tuple[int, ...]
    labels: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"versions": list(self.versions), "labels": dict(sorted(self.labels.items()))}

    @classmethod
    def from_json(cls, data: Any, where: str = "config") -> ModelServingConfig:
        d = _obj(data, where)
        return cls(
            _ints(d.get("versions"), f"{where}.versions"),
            _labels(d.get("labels") or {}, f"{where}.labels"),
        )


@dataclass(frozen=True)
class ModelStatus:
    """One model on one node: what is desired, installed, configured, loaded, quarantined."""

    desired: tuple[int, ...] = ()
    local: tuple[int, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)
    quarantined: tuple[QuarantineEntry, ...] = ()
    loaded: tuple[LoadedVersion, ...] = ()
    note: str = ""

    def serving(self) -> list[int]:
        """Versions TF Serving reports AVAILABLE."""
        return sorted(v.version for v in self.loaded if v.state == "AVAILABLE")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "desired": list(self.desired),
            "local": list(self.local),
            "labels": dict(sorted(self.labels.items())),
            "quarantined": [
                {k: v for k, v in q.to_json().items() if k != "model"} for q in self.quarantined
            ],
            "loaded": [v.to_json() for v in self.loaded],
        }
        if self.note:
            body["note"] = self.note
        return body

    @classmethod
    def from_json(cls, model: str, data: Any, where: str = "models") -> ModelStatus:
        w = f"{where}.{model}"
        d = _obj(data, w)
        raw_q = d.get("quarantined") or []
        if not isinstance(raw_q, list):
            raise ContractError(f"{w}.quarantined: expected a list")
        raw_loaded = d.get("loaded") or []
        if not isinstance(raw_loaded, list):
            raise ContractError(f"{w}.loaded: expected a list")
        return cls(
            desired=_ints(d.get("desired") or [], f"{w}.desired"),
            local=_ints(d.get("local") or [], f"{w}.local"),
            labels=_labels(d.get("labels") or {}, f"{w}.labels"),
            quarantined=tuple(
                QuarantineEntry.from_json({"model": model, **_obj(q, f"{w}.quarantined[]")})
                for q in raw_q
            ),
            loaded=tuple(LoadedVersion.from_json(x, f"{w}.loaded[]") for x in raw_loaded),
            note=str(d.get("note") or ""),
        )


@dataclass(frozen=True)
class TFServingReach:
    target: str
    reachable: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "reachable": self.reachable, "error": self.error}

    @classmethod
    def from_json(cls, data: Any, where: str = "tfserving") -> TFServingReach:
        d = _obj(data, where)
        if not isinstance(d.get("reachable"), bool):
            raise ContractError(f"{where}.reachable: expected true or false")
        return cls(_str(d, "target", where), d["reachable"], _str(d, "error", where, optional=True))


@dataclass(frozen=True)
class ConfigManagerStatus:
    """``GET /api/v1/models`` of config_manager.

    ``config`` is what TF Serving was last sent, which is also the content of models.config;
    ``in_sync`` says TF Serving serves it (every version AVAILABLE); ``error`` is why not.
    """

    hostname: str
    zone: str
    tfserving: TFServingReach
    models: dict[str, ModelStatus]
    config: dict[str, ModelServingConfig] = field(default_factory=dict)
    in_sync: bool = False
    error: str | None = None
    master: dict[str, Any] | None = None  # registration state; None: no master configured
    service: str = CONFIG_MANAGER

    def to_json(self) -> dict[str, Any]:
        body = {
            "service": self.service,
            "hostname": self.hostname,
            "zone": self.zone,
            "tfserving": self.tfserving.to_json(),
            "in_sync": self.in_sync,
            "error": self.error,
            "config": {m: c.to_json() for m, c in sorted(self.config.items())},
            "models": {m: s.to_json() for m, s in sorted(self.models.items())},
        }
        if self.master is not None:
            body["master"] = dict(self.master)
        return body

    @classmethod
    def from_json(cls, data: Any) -> ConfigManagerStatus:
        d = _obj(data, "status")
        if d.get("service") != CONFIG_MANAGER:
            raise ContractError(f"status.service: expected {CONFIG_MANAGER!r}")
        models = _obj(d.get("models") or {}, "models")
        config = _obj(d.get("config") or {}, "config")
        return cls(
            hostname=_str(d, "hostname", "status"),
            zone=_str(d, "zone", "status"),
            tfserving=TFServingReach.from_json(d.get("tfserving")),
            models={str(m): ModelStatus.from_json(str(m), s) for m, s in models.items()},
            config={
                str(m): ModelServingConfig.from_json(c, f"config.{m}") for m, c in config.items()
            },
            in_sync=bool(d.get("in_sync", False)),
            error=_str(d, "error", "status", optional=True),
            master=dict(_obj(d["master"], "status.master")) if d.get("master") else None,
        )


@dataclass(frozen=True)
class QuarantineList:
    """``GET /api/v1/quarantine[?model=M[&version=V]]`` of config_manager."""

    hostname: str
    zone: str
    entries: tuple[QuarantineEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": CONFIG_MANAGER,
            "hostname": self.hostname,
            "zone": self.zone,
            "quarantined": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: Any) -> QuarantineList:
        d = _obj(data, "quarantine")
        raw = d.get("quarantined")
        if not isinstance(raw, list):
            raise ContractError("quarantine.quarantined: expected a list")
        return cls(
            _str(d, "hostname", "quarantine"),
            _str(d, "zone", "quarantine"),
            tuple(QuarantineEntry.from_json(e) for e in raw),
        )


@dataclass(frozen=True)
class QuarantineClearResult:
    """``DELETE /api/v1/quarantine/<model>[/<version>]``: the entries removed (maybe none)."""

    hostname: str
    cleared: tuple[QuarantineEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "cleared": [e.to_json() for e in self.cleared]}

    @classmethod
    def from_json(cls, data: Any) -> QuarantineClearResult:
        d = _obj(data, "cleared")
        raw = d.get("cleared")
        if not isinstance(raw, list):
            raise ContractError("cleared.cleared: expected a list")
        return cls(_str(d, "hostname", "cleared"), tuple(QuarantineEntry.from_json(e) for e in raw))
