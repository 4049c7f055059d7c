"""The local model directory: the only contract between the puller and the config manager.

``LOCAL/<model>/<version>/`` appears only through one atomic rename of a fully verified
staging directory, and always carries the ``_modelfleet.json`` it was verified against, so
a directory without it was not installed by the puller and is never counted as present.
Staging lives under ``LOCAL/.modelfleet/staging`` (same filesystem, so the rename is
atomic) and is wiped at start: whatever a killed puller left there is simply redone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, fsync_dir, read_json
from ..logsetup import kv
from ..names import InvalidName, parse_version, safe_join, validate_model_name
from ..store.manifest import MANIFEST_NAME

__all__ = ["LocalModels"]

log = logging.getLogger(__name__)

META = ".modelfleet"


class LocalModels:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.meta = self.root / META
        self.staging = self.meta / "staging"
        self.desired_path = self.meta / "desired.json"

    def prepare(self) -> int:
        """Create the meta dirs and wipe staging left by a previous run; returns dirs removed."""
        self.staging.mkdir(parents=True, exist_ok=True)
        removed = 0
        for entry in os.scandir(self.staging):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
        if removed:
            log.info("cleaned staging left by a previous run", extra=kv(entries=removed))
        return removed

    def scan(self) -> tuple[dict[str, list[int]], list[str]]:
        """Installed versions per model, and what on disk is not ours (reported, untouched)."""
        present: dict[str, list[int]] = {}
        problems: list[str] = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except FileNotFoundError:
            return {}, [f"{self.root} does not exist"]
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                model = validate_model_name(entry.name)
            except InvalidName:
                problems.append(f"{entry.path}: not a valid model name, ignored")
                continue
            versions = []
            for ventry in os.scandir(entry.path):
                try:
                    version = parse_version(ventry.name)
                except InvalidName:
                    continue
                if (Path(ventry.path) / MANIFEST_NAME).is_file():
                    versions.append(version)
                else:
                    problems.append(f"{ventry.path}: no {MANIFEST_NAME}, not installed by puller")
            if versions:
                present[model] = sorted(versions)
        return present, problems

    def version_dir(self, model: str, version: int) -> Path:
        return safe_join(self.root, validate_model_name(model), str(parse_version(version)))

    def new_staging(self, model: str, version: int) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        name = f"{validate_model_name(model)}.{parse_version(version)}."
        return Path(tempfile.mkdtemp(prefix=name, dir=self.staging))

    def install(self, staging: Path, model: str, version: int) -> Path:
        """Move a verified staging dir into place with one rename (fails if the target exists)."""
        target = self.version_dir(model, version)
        target.parent.mkdir(exist_ok=True)
        os.rename(staging, target)  # atomic; refuses a non-empty existing target
        fsync_dir(target.parent)
        return target

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def read_desired(self) -> dict[str, Any] | None:
        try:
            doc = read_json(self.desired_path)
        except (FileNotFoundError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def write_desired(self, doc: dict[str, Any]) -> None:
        self.meta.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.desired_path, doc)
