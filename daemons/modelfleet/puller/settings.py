"""Settings of remote_model_puller: RUNBOOK env vars + ``MODELFLEET_*``, overridable by flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import EnvReader, NodeSettings, SettingsError

__all__ = ["SERVICE", "PullerSettings"]

SERVICE = "remote_model_puller"


@dataclass(frozen=True)
class PullerSettings(NodeSettings):
    remote: str
    cloudsdk_config: str
    retention: int
    disk_reserve_bytes: int
    download_workers: int
    slice_bytes: int
    pull_concurrency: int
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
        node = NodeSettings.read(r, "0.0.0.0:8001")
        local_dir: Path = node["local_dir"]
        if not remote.startswith("gs://") and Path(remote).resolve() == local_dir.resolve():
            raise SettingsError("REMOTE_MODEL_DIRECTORY must not be LOCAL_MODEL_DIRECTORY")
        cloudsdk = r.str("CLOUDSDK_CONFIG", "")
        if cloudsdk and not Path(cloudsdk).is_dir():
            raise SettingsError(f"CLOUDSDK_CONFIG={cloudsdk!r} is not a directory")
        return cls(
            **node,
            remote=remote.rstrip("/"),
            cloudsdk_config=cloudsdk,
            retention=r.int("MODELFLEET_RETENTION", 1, minimum=0),
            disk_reserve_bytes=r.int("MODELFLEET_DISK_RESERVE_MB", 1024, minimum=0) << 20,
            download_workers=r.int("MODELFLEET_DOWNLOAD_WORKERS", 16, minimum=1),
            slice_bytes=r.int("MODELFLEET_SLICE_SIZE_MB", 32, minimum=1) << 20,
            pull_concurrency=r.int("MODELFLEET_PULL_CONCURRENCY", 2, minimum=1),
            fsync=r.bool("MODELFLEET_FSYNC", True),
        )
