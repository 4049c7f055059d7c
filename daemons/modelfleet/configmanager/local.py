"""The node's local model directory, as the config manager sees it.

Reads the two things the puller hands over (DESIGN: the only contract between them): the
complete versions under ``LOCAL/<model>/<version>/`` and ``LOCAL/.modelfleet/desired.json``.
Bad content — a directory that is not a valid model name or version, a desired.json that
does not parse or names invalid things — is reported and skipped, never served. Deleting a
version happens only here, only inside LOCAL, by renaming it into a trash directory first so
no reader ever sees half a version.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import read_json
from ..logsetup import kv
from ..names import InvalidName, parse_version, safe_join, validate_label, validate_model_name

__all__ = ["DesiredModel", "DesiredState", "LocalDir"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DesiredModel:
    versions: tuple[int, ...]
    labels: tuple[tuple[str, int], ...] = ()
    keep: tuple[int, ...] = ()


@dataclass
class DesiredState:
    """The puller's desired.json; ``models is None`` when there is no usable file."""

    models: dict[str, DesiredModel] | None
    error: str = ""
    problems: list[str] = field(default_factory=list)


class LocalDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.meta = self.root / ".modelfleet"
        self.desired_path = self.meta / "desired.json"
        self.trash = self.meta / "trash"

    def scan(self) -> tuple[dict[str, list[int]], list[str]]:
        """Complete versions per model, and problems found (names that are not valid)."""
        present: dict[str, list[int]] = {}
        problems: list[str] = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError as exc:
            return {}, [f"cannot list {self.root}: {exc.strerror}"]
        for model_dir in entries:
            name = model_dir.name
            if name.startswith("."):
                continue
            try:
                validate_model_name(name)
            except InvalidName as exc:
                problems.append(str(exc))
                continue
            if model_dir.is_symlink() or not model_dir.is_dir():
                problems.append(f"{model_dir} is not a directory")
                continue
            versions = []
            for vdir in sorted(model_dir.iterdir()):
                if vdir.name.startswith("."):
                    continue  # staging or trash of someone else
                try:
                    version = parse_version(vdir.name)
                except InvalidName as exc:
                    problems.append(f"{model_dir.name}: {exc}")
                    continue
                if vdir.is_symlink() or not vdir.is_dir():
                    problems.append(f"{vdir} is not a directory")
                    continue
                versions.append(version)
            if versions:
                present[name] = sorted(versions)
        return present, problems

    def read_desired(self) -> DesiredState:
        try:
            data = read_json(self.desired_path)
        except FileNotFoundError:
            return DesiredState(None, "")
        except (OSError, ValueError) as exc:
            return DesiredState(None, f"{self.desired_path} unreadable: {exc}")
        return parse_desired(data, str(self.desired_path))

    def version_path(self, model: str, version: int) -> Path:
        return safe_join(self.root, validate_model_name(model), str(parse_version(version)))

    def delete_version(self, model: str, version: int) -> bool:
        """Remove ``LOCAL/model/version``: rename into trash (atomic), then delete."""
        path = self.version_path(model, version)
        if path.is_symlink() or not path.is_dir():
            log.warning("not deleting: not a plain directory", extra=kv(path=str(path)))
            return False
        self.trash.mkdir(parents=True, exist_ok=True)
        target = self.trash / f"{model}.{version}.{uuid.uuid4().hex[:8]}"
        os.rename(path, target)
        shutil.rmtree(target, ignore_errors=True)
        model_dir = path.parent
        with contextlib.suppress(OSError):
            model_dir.rmdir()  # only succeeds when nothing is left
        return True

    def clean_trash(self) -> None:
        if self.trash.is_dir():
            for entry in self.trash.iterdir():
                shutil.rmtree(entry, ignore_errors=True)


def parse_desired(data: Any, where: str = "desired.json") -> DesiredState:
    """Validate the puller's desired.json; invalid model entries are skipped and reported."""
    if not isinstance(data, dict) or data.get("schema") != 1:
        return DesiredState(None, f"{where}: not a schema 1 desired state")
    raw_models = data.get("models")
    if not isinstance(raw_models, dict):
        return DesiredState(None, f"{where}: 'models' must be an object")
    models: dict[str, DesiredModel] = {}
    problems: list[str] = []
    for name, entry in sorted(raw_models.items()):
        try:
            validate_model_name(name)
            if not isinstance(entry, dict):
                raise InvalidName(f"entry of {name} is not an object")
            versions = tuple(sorted({parse_version(v) for v in entry.get("versions") or []}))
            labels_raw = entry.get("labels") or {}
            keep = tuple(sorted({parse_version(v) for v in entry.get("keep") or []}))
            if not isinstance(labels_raw, dict):
                raise InvalidName(f"labels of {name} must be an object")
            labels = tuple(
                sorted((validate_label(k), parse_version(v)) for k, v in labels_raw.items())
            )
        except (InvalidName, TypeError) as exc:
            problems.append(f"{where}: model {name!r} skipped: {exc}")
            continue
        models[name] = DesiredModel(versions=versions, labels=labels, keep=keep)
    return DesiredState(models, "", problems)
