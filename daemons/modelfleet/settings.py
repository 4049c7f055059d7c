"""Building blocks for the per-daemon settings objects.

Each daemon has one frozen dataclass of settings built from environment variables (the
RUNBOOK's names, ``MODELFLEET_*`` for the rest) overridden by command-line flags, and
validated once at start. A bad value raises :class:`SettingsError` naming the variable, and
the CLI turns that into one line on stderr and exit code 2 — before anything is touched.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .names import InvalidName, validate_zone

__all__ = ["EnvReader", "NodeSettings", "SettingsError"]


class SettingsError(ValueError):
    """A setting that is missing or wrong; the message names the variable."""


class EnvReader:
    """Read typed values from flags first, then the environment, then a default.

    ``overrides`` holds flag values keyed by the environment variable name they override;
    ``None`` means the flag was not given.
    """

    def __init__(
        self,
        overrides: Mapping[builtins.str, Any] | None = None,
        env: Mapping[str, builtins.str] | None = None,
    ) -> None:
        self.overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self.env = os.environ if env is None else env

    def raw(self, name: builtins.str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        value = self.env.get(name)
        return value if value not in (None, "") else None

    def str(
        self,
        name: builtins.str,
        default: builtins.str | None = None,
        *,
        required: builtins.bool = False,
    ) -> builtins.str:
        value = self.raw(name)
        if value is None:
            if required and default is None:
                raise SettingsError(f"{name} is required but not set")
            return default if default is not None else ""
        return str(value)

    def int(
        self, name: builtins.str, default: builtins.int, *, minimum: builtins.int | None = None
    ) -> builtins.int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name}={value!r} is not an integer") from None
        if minimum is not None and number < minimum:
            raise SettingsError(f"{name}={number} must be at least {minimum}")
        return number

    def float(
        self, name: builtins.str, default: builtins.float, *, minimum: builtins.float = 0.0
    ) -> builtins.float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name}={value!r} is not a number") from None
        if number != number or number < minimum:
            raise SettingsError(f"{name}={value!r} must be a number >= {minimum}")
        return number

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, builtins.bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={value!r} is not a boolean (true/false)")

    def directory(
        self,
        name: builtins.str,
        default: builtins.str | None = None,
        *,
        create: builtins.bool = False,
        writable: builtins.bool = True,
    ) -> Path:
        """An existing (or created) directory the daemon can write to."""
        text = self.str(name, default, required=default is None)
        path = Path(text)
        if not path.is_absolute():
            raise SettingsError(f"{name}={text!r} must be an absolute path")
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingsError(f"{name}={text!r} cannot be created: {exc.strerror}") from None
        if not path.is_dir():
            raise SettingsError(f"{name}={text!r} is not a directory")
        if writable and not os.access(path, os.W_OK | os.X_OK):
            raise SettingsError(f"{name}={text!r} is not writable by this user")
        return path

    def url(
        self,
        name: builtins.str,
        default: builtins.str = "",
        *,
        schemes: tuple[builtins.str, ...] = ("http", "https"),
    ) -> builtins.str:
        text = self.str(name, default)
        if not text:
            return ""
        parsed = urlparse(text)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise SettingsError(f"{name}={text!r} must be a {'/'.join(schemes)} URL")
        return text.rstrip("/")

    def hostport(
        self, name: builtins.str, default: builtins.str
    ) -> tuple[builtins.str, builtins.int]:
        text = self.str(name, default)
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{name}={text!r} must be HOST:PORT")
        return host.strip("[]"), int(port)

    def zone(self, name: builtins.str, default: builtins.str) -> builtins.str:
        text = self.str(name, default)
        try:
            return validate_zone(text)
        except InvalidName as exc:
            raise SettingsError(f"{name}: {exc}") from None

    def hostname(self, name: builtins.str = "HOSTNAME") -> builtins.str:
        """The node's own name, as the master will call it (RUNBOOK: never a load balancer)."""
        import socket

        text = self.str(name, "") or socket.gethostname()
        if not text or any(c in text for c in "/ \t\n:") or len(text) > 253:
            raise SettingsError(f"{name}={text!r} is not a valid hostname")
        return text

    def positive(self, name: builtins.str, default: builtins.float) -> builtins.float:
        """A number strictly greater than 0 (intervals, timeouts)."""
        value = self.float(name, default, minimum=0.0)
        if value <= 0:
            raise SettingsError(f"{name}={value} must be greater than 0")
        return value

    def log_level(self, name: builtins.str = "MODELFLEET_LOG_LEVEL") -> builtins.str:
        level = self.str(name, "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"{name}={level!r} is not a log level")
        return level

    def bind(self, name: builtins.str, default: builtins.str) -> tuple[builtins.str, builtins.int]:
        """``HOST:PORT`` to listen on, as gunicorn wants it (IPv6 in brackets), and the port."""
        host, port = self.hostport(name, default)
        return (f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"), port

    def ca_file(self, name: builtins.str) -> builtins.str | None:
        """A PEM CA bundle to verify peers against (TLS on); None when ``name`` is unset.

        Checked at start: a typo would otherwise surface as every call failing its handshake.
        """
        path = self.str(name, "")
        if not path:
            return None
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                head = f.read(4096)
        except OSError as exc:
            raise SettingsError(f"{name}={path!r} is not a readable file: {exc.strerror}") from None
        if "-----BEGIN CERTIFICATE-----" not in head:
            raise SettingsError(f"{name}={path!r} holds no PEM certificate")
        return path

    def token(self, name: builtins.str) -> builtins.str | None:
        """The token in the 0600 file named by ``name``; None when ``name`` is unset."""
        from .tokens import TokenError, read_token_file

        path = self.str(name, "")
        if not path:
            return None
        try:
            return read_token_file(path)
        except TokenError as exc:
            raise SettingsError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class NodeSettings:
    """The settings every node daemon has, declared once (puller and config manager).

    A daemon's settings class subclasses this and adds its own fields; its ``from_env``
    starts with ``**NodeSettings.read(r, default_bind)``.
    """

    hostname: builtins.str
    local_dir: Path
    state_dir: Path
    bind: builtins.str
    advertise_port: builtins.int
    master_url: builtins.str
    cluster_token: builtins.str | None
    zone: builtins.str
    poll_interval: builtins.float
    heartbeat_interval: builtins.float
    log_level: builtins.str
    # set when the master is served over HTTPS by a fleet CA (roles: modelfleet_common_tls_*)
    master_ca_file: builtins.str | None

    @staticmethod
    def read(r: EnvReader, default_bind: builtins.str) -> dict[builtins.str, Any]:
        """The shared fields, read and checked; raises SettingsError naming the variable."""
        bind, port = r.bind("MODELFLEET_BIND", default_bind)
        return {
            "hostname": r.hostname(),
            "local_dir": r.directory("LOCAL_MODEL_DIRECTORY", create=False),
            "state_dir": r.directory("MODELFLEET_STATE_DIR", "/app", create=True),
            "bind": bind,
            "advertise_port": r.int("MODELFLEET_ADVERTISE_PORT", port, minimum=1),
            "master_url": r.url("MODELFLEET_MASTER_URL"),
            "cluster_token": r.token("MODELFLEET_CLUSTER_TOKEN_FILE"),
            "zone": r.zone("MODELFLEET_ZONE", "default"),
            "poll_interval": r.positive("MODELFLEET_POLL_INTERVAL", 10.0),
            "heartbeat_interval": r.positive("MODELFLEET_HEARTBEAT_INTERVAL", 10.0),
            "log_level": r.log_level(),
            "master_ca_file": r.ca_file("MODELFLEET_MASTER_CA_FILE"),
        }
