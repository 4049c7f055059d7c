"""Settings of remote_model_puller: RUNBOOK env vars + ``MODELFLEET_*``, overridable by flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import EnvReader, SettingsError

__all__ = ["PullerSettings"]

SERVICE = "remote_model_puller"


@dataclass(frozen=True)
class PullerSettings:
    hostname: str
    local_dir: Path
    remote: str
    cloudsdk_config: str
    state_dir: Path
    bind: str
    advertise_port: int
    master_url: str
    cluster_token: str | None
    zone: str
    poll_interval: float
    heartbeat_interval: float
    log_level: str
    retention: int
    disk_reserve_bytes: int
    download_workers: int
    slice_bytes: int
    fsync: bool

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> PullerSettings:
        """Read and check every setting; raises SettingsError/TokenError naming the variable."""
        r = EnvReader(overrides, env)
        remote = r.str("REMOTE_MODEL_DIRECTORY", required=True)
        if remote.startswith("gs://"):
            bucket = remote[5:].split("/", 1)[0]
            if not bucket or ".." in remote:
                raise SettingsError(
                    f"REMOTE_MODEL_DIRECTORY={remote!r} is not gs://bucket[/prefix]"
                )
        elif not os.path.isabs(remote) or "://" in remote:
            raise SettingsError(
                f"REMOTE_MODEL_DIRECTORY={remote!r}: use gs://bucket[/prefix] or an absolute path"
            )
        local_dir = r.directory("LOCAL_MODEL_DIRECTORY", create=False)
        if not remote.startswith("gs://") and Path(remote).resolve() == local_dir.resolve():
            raise SettingsError("REMOTE_MODEL_DIRECTORY must not be LOCAL_MODEL_DIRECTORY")
        cloudsdk = r.str("CLOUDSDK_CONFIG", "")
        if cloudsdk and not Path(cloudsdk).is_dir():
            raise SettingsError(f"CLOUDSDK_CONFIG={cloudsdk!r} is not a directory")
        bind, port = r.bind("MODELFLEET_BIND", "0.0.0.0:8001")
        return cls(
            hostname=r.hostname(),
            local_dir=local_dir,
            remote=remote.rstrip("/"),
            cloudsdk_config=cloudsdk,
            state_dir=r.directory("MODELFLEET_STATE_DIR", "/app", create=True),
            bind=bind,
            advertise_port=r.int("MODELFLEET_ADVERTISE_PORT", port, minimum=1),
            master_url=r.url("MODELFLEET_MASTER_URL"),
            cluster_token=r.token("MODELFLEET_CLUSTER_TOKEN_FILE"),
            zone=r.zone("MODELFLEET_ZONE", "default"),
            poll_interval=r.positive("MODELFLEET_POLL_INTERVAL", 10.0),
            heartbeat_interval=r.positive("MODELFLEET_HEARTBEAT_INTERVAL", 10.0),
            log_level=r.log_level(),
            retention=r.int("MODELFLEET_RETENTION", 1, minimum=0),
            disk_reserve_bytes=r.int("MODELFLEET_DISK_RESERVE_MB", 1024, minimum=0) << 20,
            download_workers=r.int("MODELFLEET_DOWNLOAD_WORKERS", 4, minimum=1),
            slice_bytes=r.int("MODELFLEET_SLICE_SIZE_MB", 32, minimum=1) << 20,
            fsync=r.bool("MODELFLEET_FSYNC", True),
        )
