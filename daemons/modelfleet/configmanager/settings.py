"""Settings of config_manager: RUNBOOK env vars + ``MODELFLEET_*``, overridable by flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import EnvReader, NodeSettings, SettingsError

__all__ = ["SERVICE", "ConfigManagerSettings"]

SERVICE = "config_manager"


@dataclass(frozen=True)
class ConfigManagerSettings(NodeSettings):
    config_file: Path
    grpc_target: str
    model_base: str
    reload_timeout: float
    rpc_timeout: float

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> ConfigManagerSettings:
        """Read and check every setting; raises SettingsError naming the variable."""
        r = EnvReader(overrides, env)
        node = NodeSettings.read(r, "0.0.0.0:8002")
        local_dir: Path = node["local_dir"]
        config_text = r.str("TENSORFLOW_SERVING_CONFIG_FILE", required=True)
        config_file = Path(config_text)
        if not config_file.is_absolute():
            raise SettingsError(
                f"TENSORFLOW_SERVING_CONFIG_FILE={config_text!r} must be an absolute path"
            )
        if config_file.is_dir():
            raise SettingsError(f"TENSORFLOW_SERVING_CONFIG_FILE={config_text!r} is a directory")
        if not config_file.parent.is_dir():
            raise SettingsError(
                f"TENSORFLOW_SERVING_CONFIG_FILE={config_text!r}: directory "
                f"{config_file.parent} does not exist"
            )
        ghost, gport = r.hostport("TENSORFLOW_SERVING_GRPC_TARGET", "127.0.0.1:8500")
        model_base = r.str("MODELFLEET_TFSERVING_MODEL_BASE", str(local_dir))
        if not model_base.startswith("/") and "://" not in model_base:
            raise SettingsError(
                f"MODELFLEET_TFSERVING_MODEL_BASE={model_base!r} must be an absolute path or URL"
            )
        return cls(
            **node,
            config_file=config_file,
            grpc_target=f"{ghost}:{gport}" if ":" not in ghost else f"[{ghost}]:{gport}",
            model_base=model_base.rstrip("/") or "/",
            reload_timeout=r.positive("MODELFLEET_RELOAD_TIMEOUT", 300.0),
            rpc_timeout=r.positive("MODELFLEET_TFSERVING_TIMEOUT", 5.0),
        )
