"""Settings of the master, built once at start from env vars and flags (see docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import EnvReader, SettingsError
from ..tokens import TokenError, read_token_file

__all__ = ["MasterSettings"]


@dataclass(frozen=True)
class MasterSettings:
    """Everything the master needs; tokens are held in memory and never printed."""

    state_dir: Path
    remote: str
    admin_token: str
    readonly_token: str
    cluster_token: str
    bind: str = "0.0.0.0:80"
    heartbeat_interval: float = 10.0
    stale_after: float = 30.0
    fanout_concurrency: int = 400
    fanout_deadline: float = 3.0
    drain_min_share: float = 0.75
    status_cache_seconds: float = 2.0
    threads: int = 8
    log_level: str = "INFO"

    def __repr__(self) -> str:  # never show tokens
        return (
            f"MasterSettings(state_dir={str(self.state_dir)!r}, remote={self.remote!r}, "
            f"bind={self.bind!r})"
        )

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> MasterSettings:
        """Read and validate; raises :class:`SettingsError` naming the variable."""
        r = EnvReader(overrides, env)
        state_dir = r.directory("MODELFLEET_STATE_DIR", "/app", create=True)
        remote = r.str("REMOTE_MODEL_DIRECTORY", required=True)
        if not (remote.startswith("gs://") or remote.startswith("/")):
            raise SettingsError(
                f"REMOTE_MODEL_DIRECTORY={remote!r} must be gs://bucket[/prefix] or an absolute "
                "path"
            )
        tokens = {}
        for var in (
            "MODELFLEET_ADMIN_TOKEN_FILE",
            "MODELFLEET_READONLY_TOKEN_FILE",
            "MODELFLEET_CLUSTER_TOKEN_FILE",
        ):
            path = r.str(var, required=True)
            try:
                tokens[var] = read_token_file(path)
            except TokenError as exc:
                raise SettingsError(f"{var}: {exc}") from None
        if len(set(tokens.values())) != 3:
            raise SettingsError(
                "MODELFLEET_ADMIN_TOKEN_FILE, MODELFLEET_READONLY_TOKEN_FILE and "
                "MODELFLEET_CLUSTER_TOKEN_FILE must hold three different tokens"
            )
        heartbeat = r.float("MODELFLEET_HEARTBEAT_INTERVAL", 10.0, minimum=0.1)
        share = r.float("MODELFLEET_DRAIN_MIN_SHARE", 0.75)
        if share > 1:
            raise SettingsError(f"MODELFLEET_DRAIN_MIN_SHARE={share} must be between 0 and 1")
        host, port = r.hostport("MODELFLEET_BIND", "0.0.0.0:80")
        return cls(
            state_dir=state_dir,
            remote=remote.rstrip("/"),
            admin_token=tokens["MODELFLEET_ADMIN_TOKEN_FILE"],
            readonly_token=tokens["MODELFLEET_READONLY_TOKEN_FILE"],
            cluster_token=tokens["MODELFLEET_CLUSTER_TOKEN_FILE"],
            bind=f"{host}:{port}",
            heartbeat_interval=heartbeat,
            stale_after=r.float("MODELFLEET_STALE_AFTER", 3 * heartbeat, minimum=0.1),
            fanout_concurrency=r.int("MODELFLEET_FANOUT_CONCURRENCY", 400, minimum=1),
            fanout_deadline=r.float("MODELFLEET_FANOUT_DEADLINE", 3.0, minimum=0.05),
            drain_min_share=share,
            status_cache_seconds=r.float("MODELFLEET_STATUS_CACHE_SECONDS", 2.0),
            threads=r.int("MODELFLEET_MASTER_THREADS", 8, minimum=1),
            log_level=r.str("MODELFLEET_LOG_LEVEL", "INFO"),
        )
