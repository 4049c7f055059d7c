"""models.config on disk: what TF Serving reads when it starts, equal to what it was sent.

The apply machine writes the file (atomically, only when its bytes change) right before it
sends the same config with HandleReloadConfigRequest, so a TF Serving that restarts comes
back with the config it last had. At start the config manager reads it back to know what
TF Serving was last told.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from ..atomic import write_if_changed
from ..logsetup import kv
from ..tfserving.config import ConfigError, parse_config, render_config
from .serving import ModelServing, ServingConfig, from_entries, to_entries

__all__ = ["ConfigFile"]

log = logging.getLogger(__name__)


class ConfigFile:
    def __init__(self, path: Path, model_base: str) -> None:
        self.path = Path(path)
        self.model_base = model_base

    def render(self, config: Mapping[str, ModelServing]) -> str:
        return render_config(to_entries(config, self.model_base))

    def write(self, config: Mapping[str, ModelServing]) -> bool:
        """Write ``config``; True when the file changed."""
        wrote = write_if_changed(self.path, self.render(config).encode())
        if wrote:
            log.info("models.config written", extra=kv(path=str(self.path)))
        return wrote

    def read(self) -> ServingConfig | None:
        """The config in the file; None when there is none or it cannot be used."""
        try:
            return from_entries(parse_config(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ConfigError) as exc:
            log.warning("existing models.config unreadable", extra=kv(error=str(exc)))
            return None
