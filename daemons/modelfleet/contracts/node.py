"""Documents a node daemon sends: its registration and the puller's status.

Each is a frozen dataclass with ``to_json`` (what goes on the wire) and ``from_json`` (what a
consumer accepts; raises :class:`ContractError`, a ValueError naming the field). Producers
(the node daemons), consumers (the master) and stand-ins (``tests/support/nodesim.py``) all
build and read them here, so a field changes in one place. The config manager's status
joins them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..names import InvalidName, parse_version, validate_model_name, validate_zone

__all__ = [
    "NODE_SERVICES",
    "ContractError",
    "DiskStatus",
    "LastSync",
    "MasterLink",
    "PullFailure",
    "PullProgress",
    "PullerStatus",
    "Registration",
    "RegistrationReply",
    "validate_hostname",
]

PULLER = "remote_model_puller"
CONFIG_MANAGER = "config_manager"
NODE_SERVICES = (PULLER, CONFIG_MANAGER)


class ContractError(InvalidName):
    """A document that does not follow its contract; the message names the field."""


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContractError(f"{what} must be a JSON object")
    return data


def _int(data: dict[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{what}.{key} must be an integer")
    return value


def _str(data: dict[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{what}.{key} must be a string")
    return value


def validate_hostname(value: object) -> str:
    """A hostname or IP the master may call; no scheme, port, path or spaces."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 253
        or any(c in value for c in "/ \t\r\n:@?#\\")
        or not value.isprintable()
    ):
        raise ContractError(f"invalid hostname {value!r}")
    return value


# -- registration (node → master, every heartbeat) ------------------------------------------


@dataclass(frozen=True)
class Registration:
    """``POST <master>/api/v1/nodes/register``; the master calls ``http://hostname:port``."""

    hostname: str
    service: str
    port: int
    zone: str = "default"
    version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "service": self.service,
            "port": self.port,
            "zone": self.zone,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, body: Any) -> Registration:
        data = _obj(body, "registration body")
        hostname = validate_hostname(data.get("hostname"))
        service = data.get("service")
        if service not in NODE_SERVICES:
            raise ContractError(f"service must be one of {', '.join(NODE_SERVICES)}")
        port = data.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ContractError("port must be an integer between 1 and 65535")
        try:
            zone = validate_zone(data.get("zone", "default"))
        except InvalidName as exc:
            raise ContractError(str(exc)) from None
        version = data.get("version", "")
        if not isinstance(version, str) or len(version) > 64 or not version.isprintable():
            raise ContractError("version must be a short string")
        return cls(hostname, service, port, zone, version)


@dataclass(frozen=True)
class RegistrationReply:
    registered: bool
    maintenance: bool

    def to_json(self) -> dict[str, Any]:
        return {"registered": self.registered, "maintenance": self.maintenance}

    @classmethod
    def from_json(cls, body: Any) -> RegistrationReply:
        data = _obj(body, "registration reply")
        return cls(bool(data.get("registered")), bool(data.get("maintenance")))


# -- remote_model_puller: GET /api/v1/status -------------------------------------------------


@dataclass(frozen=True)
class LastSync:
    """The last sync pass: when, whether it reached the bucket, and the generation applied."""

    at: str | None = None
    ok: bool | None = None
    error: str = ""
    generation: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "error": self.error, "generation": self.generation}

    @classmethod
    def from_json(cls, data: Any) -> LastSync:
        d = _obj(data, "last_sync")
        ok = d.get("ok")
        if ok is not None and not isinstance(ok, bool):
            raise ContractError("last_sync.ok must be true, false or null")
        return cls(
            at=_str(d, "at", "last_sync", optional=True),
            ok=ok,
            error=str(d.get("error") or ""),
            generation=_int(d, "generation", "last_sync", optional=True),
        )


@dataclass(frozen=True)
class PullProgress:
    """The one pull of a model in flight (a model never has two)."""

    model: str
    version: int
    bytes_done: int
    bytes_total: int
    state: str  # starting, downloading, verifying, installing
    started_at: str
    cancelling: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "state": self.state,
            "started_at": self.started_at,
            "cancelling": self.cancelling,
        }

    @classmethod
    def from_json(cls, data: Any) -> PullProgress:
        d = _obj(data, "pull")
        try:
            model, version = validate_model_name(d.get("model")), parse_version(d.get("version"))
        except InvalidName as exc:
            raise ContractError(f"pull: {exc}") from None
        return cls(
            model=model,
            version=version,
            bytes_done=_int(d, "bytes_done", "pull"),
            bytes_total=_int(d, "bytes_total", "pull"),
            state=_str(d, "state", "pull"),
            started_at=_str(d, "started_at", "pull"),
            cancelling=bool(d.get("cancelling", False)),
        )


@dataclass(frozen=True)
class PullFailure:
    """A version that is not installed and why; ``model`` None for document-level problems."""

    model: str | None
    version: int | None
    reason: str  # remote, checksum, missing, manifest, incomplete, disk, conflict, desired, ...
    error: str
    at: str | None = None
    attempts: int = 0
    retry_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "reason": self.reason,
            "error": self.error,
            "at": self.at,
            "attempts": self.attempts,
            "retry_at": self.retry_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> PullFailure:
        d = _obj(data, "error")
        return cls(
            model=_str(d, "model", "error", optional=True),
            version=_int(d, "version", "error", optional=True),
            reason=_str(d, "reason", "error"),
            error=_str(d, "error", "error"),
            at=_str(d, "at", "error", optional=True),
            attempts=int(d.get("attempts") or 0),
            retry_at=_str(d, "retry_at", "error", optional=True),
        )


@dataclass(frozen=True)
class DiskStatus:
    free_bytes: int
    reserve_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"free_bytes": self.free_bytes, "reserve_bytes": self.reserve_bytes}

    @classmethod
    def from_json(cls, data: Any) -> DiskStatus:
        d = _obj(data, "disk")
        return cls(_int(d, "free_bytes", "disk"), _int(d, "reserve_bytes", "disk"))


@dataclass(frozen=True)
class MasterLink:
    """Registration with the master, as the node sees it."""

    url: str
    registered: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "registered": self.registered, "error": self.error}

    @classmethod
    def from_json(cls, data: Any) -> MasterLink:
        d = _obj(data, "master")
        return cls(_str(d, "url", "master"), bool(d.get("registered")), str(d.get("error") or ""))


@dataclass(frozen=True)
class PullerStatus:
    """``GET /api/v1/status`` of remote_model_puller.

    ``local`` is read from the disk for every request (installed versions only, see
    :mod:`modelfleet.localdir`), ``desired`` is the local desired document's ``models``,
    ``pulls`` holds the pull in flight per model, ``errors`` the versions that failed and
    the problems of the remote document, ``not_installed`` what is on disk but not served.
    """

    hostname: str
    zone: str
    remote: str
    last_sync: LastSync
    local: dict[str, list[int]]
    desired: dict[str, dict[str, Any]]
    pulls: list[PullProgress] = field(default_factory=list)
    errors: list[PullFailure] = field(default_factory=list)
    disk: DiskStatus = DiskStatus(-1, 0)
    not_installed: list[str] = field(default_factory=list)
    master: MasterLink | None = None
    service: str = PULLER

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "service": self.service,
            "hostname": self.hostname,
            "zone": self.zone,
            "remote": self.remote,
            "last_sync": self.last_sync.to_json(),
            "local": {m: list(v) for m, v in sorted(self.local.items())},
            "desired": dict(sorted(self.desired.items())),
            "pulls": [p.to_json() for p in self.pulls],
            "errors": [e.to_json() for e in self.errors],
            "disk": self.disk.to_json(),
            "not_installed": list(self.not_installed),
        }
        if self.master is not None:
            body["master"] = self.master.to_json()
        return body

    @classmethod
    def from_json(cls, data: Any) -> PullerStatus:
        d = _obj(data, "puller status")
        if d.get("service") != PULLER:
            raise ContractError(f"puller status: service must be {PULLER!r}")
        local_raw = _obj(d.get("local"), "puller status.local")
        try:
            local = {
                validate_model_name(m): sorted(parse_version(v) for v in vs)
                for m, vs in local_raw.items()
            }
        except (InvalidName, TypeError) as exc:
            raise ContractError(f"puller status.local: {exc}") from None
        pulls, errors = d.get("pulls") or [], d.get("errors") or []
        if not isinstance(pulls, list) or not isinstance(errors, list):
            raise ContractError("puller status: pulls and errors must be lists")
        return cls(
            hostname=validate_hostname(d.get("hostname")),
            zone=_str(d, "zone", "puller status"),
            remote=_str(d, "remote", "puller status"),
            last_sync=LastSync.from_json(d.get("last_sync")),
            local=local,
            desired=_obj(d.get("desired") or {}, "puller status.desired"),
            pulls=[PullProgress.from_json(p) for p in pulls],
            errors=[PullFailure.from_json(e) for e in errors],
            disk=DiskStatus.from_json(d.get("disk")),
            not_installed=[str(p) for p in d.get("not_installed") or []],
            master=MasterLink.from_json(d["master"]) if d.get("master") is not None else None,
        )
