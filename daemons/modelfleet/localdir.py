"""LOCAL_MODEL_DIRECTORY: the one module that knows its layout and its rules.

The local model directory is the only contract between remote_model_puller and
config_manager (DESIGN), so its rules live here once and nowhere else spells them::

    LOCAL/<model>/<version>/                 an installed version (see below)
    LOCAL/<model>/<version>/_modelfleet.json the manifest the version was verified against
    LOCAL/.modelfleet/desired.json           the local desired document (puller → config manager)
    LOCAL/.modelfleet/staging/<m>.<v>.<rnd>/ the puller's work in progress (same filesystem)
    LOCAL/.modelfleet/trash/                 versions the config manager is deleting

**Installed** means complete and verified: a plain directory (not a symlink) holding a
``_modelfleet.json`` that is the manifest of exactly this model and version, and every file
that manifest lists, as a regular file of the listed size. The puller makes that true by
verifying every byte (size and CRC32C) in staging, writing the manifest last and moving the
directory in with one ``rename``; :meth:`LocalModelDir.verify` re-checks the checksums when
a caller wants proof rather than the cheap structural check. A directory that is not
installed (hand-copied, no manifest, a file missing) is reported and never served.

**Ownership**: only the puller creates versions (:meth:`~LocalModelDir.install`); only the
config manager deletes them (:meth:`~LocalModelDir.delete_version`), and only after TF
Serving reports the version unloaded. Because another process deletes, no daemon may keep
what is on disk across passes: each pass calls :meth:`~LocalModelDir.scan` (one ``scandir``
per model, a ``stat`` per listed file — cheap next to anything remote).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json, fsync_dir, read_json
from .logsetup import kv
from .names import InvalidName, parse_version, safe_join, validate_label, validate_model_name
from .store.manifest import MANIFEST_NAME, InvalidManifest, Manifest, crc32c_of_file, parse_manifest

__all__ = [
    "DESIRED_SCHEMA",
    "META_DIR",
    "DesiredModel",
    "DesiredState",
    "InvalidLocalDesired",
    "LocalDesired",
    "LocalModelDir",
    "parse_desired",
]

log = logging.getLogger(__name__)

META_DIR = ".modelfleet"
DESIRED_SCHEMA = 1


# An installed version: readable by TF Serving's user, writable only by the daemons' own.
VERSION_DIR_MODE = 0o755


class InvalidLocalDesired(ValueError):
    """A local desired document that cannot be used at all (not just one bad model entry)."""


# -- the local desired document ------------------------------------------------------------


@dataclass(frozen=True)
class DesiredModel:
    """One model of the local desired document.

    ``versions``: serve these (the config manager serves ``versions ∩ installed``);
    ``labels``: label → version pairs, sorted; ``keep``: installed versions kept on disk
    for a fast rollback (retention) — everything else of the model may be freed.
    """

    versions: tuple[int, ...]
    labels: tuple[tuple[str, int], ...] = ()
    keep: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": list(self.versions),
            "labels": dict(self.labels),
            "keep": list(self.keep),
        }

    @classmethod
    def from_json(cls, name: str, entry: Any) -> DesiredModel:
        """Check one entry; raises InvalidName naming the problem."""
        validate_model_name(name)
        if not isinstance(entry, dict):
            raise InvalidName(f"entry of {name} is not an object")
        labels_raw = entry.get("labels") or {}
        if not isinstance(labels_raw, dict):
            raise InvalidName(f"labels of {name} must be an object")
        try:
            versions = tuple(sorted({parse_version(v) for v in entry.get("versions") or []}))
            keep = tuple(sorted({parse_version(v) for v in entry.get("keep") or []}))
        except TypeError:
            raise InvalidName(f"versions and keep of {name} must be lists") from None
        labels = tuple(sorted((validate_label(k), parse_version(v)) for k, v in labels_raw.items()))
        return cls(versions=versions, labels=labels, keep=keep)


@dataclass(frozen=True)
class LocalDesired:
    """``LOCAL/.modelfleet/desired.json``: what this node should serve and keep.

    Written by the puller only, read by the config manager every pass. ``source`` and
    ``source_generation`` say which remote document it was derived from (generation 0: the
    no-desired.json fallback). A model absent from ``models`` is unloaded, then freed.
    """

    models: Mapping[str, DesiredModel]
    source: str = ""
    source_generation: int | None = None
    generated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": DESIRED_SCHEMA,
            "generated_at": self.generated_at,
            "source": self.source,
            "source_generation": self.source_generation,
            "models": {m: d.to_json() for m, d in sorted(self.models.items())},
        }

    def same_content(self, other: LocalDesired | None) -> bool:
        """Equal apart from ``generated_at`` (a rewrite would only wake watchers)."""
        return (
            other is not None
            and dict(self.models) == dict(other.models)
            and self.source == other.source
            and self.source_generation == other.source_generation
        )

    @classmethod
    def from_json(cls, data: Any, where: str = "desired.json") -> tuple[LocalDesired, list[str]]:
        """Parse leniently: a bad model entry is skipped and reported, the rest is used.

        Raises :class:`InvalidLocalDesired` for a document that is not schema 1 at all.
        """
        if not isinstance(data, dict) or data.get("schema") != DESIRED_SCHEMA:
            raise InvalidLocalDesired(f"{where}: not a schema {DESIRED_SCHEMA} desired state")
        raw_models = data.get("models")
        if not isinstance(raw_models, dict):
            raise InvalidLocalDesired(f"{where}: 'models' must be an object")
        models: dict[str, DesiredModel] = {}
        problems: list[str] = []
        for name, entry in sorted(raw_models.items()):
            try:
                models[name] = DesiredModel.from_json(name, entry)
            except InvalidName as exc:
                problems.append(f"{where}: model {name!r} skipped: {exc}")
        generation = data.get("source_generation")
        doc = cls(
            models=models,
            source=str(data.get("source") or ""),
            source_generation=generation if isinstance(generation, int) else None,
            generated_at=str(data.get("generated_at") or ""),
        )
        return doc, problems


@dataclass
class DesiredState:
    """The result of reading the local desired document.

    ``models is None`` when there is no usable document: ``error`` is empty when the file
    does not exist yet, and says why otherwise.
    """

    models: dict[str, DesiredModel] | None
    error: str = ""
    problems: list[str] = field(default_factory=list)
    doc: LocalDesired | None = None


def parse_desired(data: Any, where: str = "desired.json") -> DesiredState:
    """Check a parsed local desired document (see :meth:`LocalDesired.from_json`)."""
    try:
        doc, problems = LocalDesired.from_json(data, where)
    except InvalidLocalDesired as exc:
        return DesiredState(None, str(exc))
    return DesiredState(dict(doc.models), "", problems, doc)


# -- the directory ---------------------------------------------------------------------------


class LocalModelDir:
    """LOCAL_MODEL_DIRECTORY. Readers: both daemons; writers: see each method."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.meta = self.root / META_DIR
        self.staging = self.meta / "staging"
        self.trash = self.meta / "trash"
        self.desired_path = self.meta / "desired.json"

    def __repr__(self) -> str:
        return f"LocalModelDir({str(self.root)!r})"

    # -- reading: every pass of either daemon -----------------------------------------------

    def scan(self) -> tuple[dict[str, list[int]], list[str]]:
        """Installed versions per model (sorted), and what was found but not installed.

        Reads the disk every call, by design: the config manager deletes behind the
        puller's back and the puller installs behind the config manager's.
        """
        present: dict[str, list[int]] = {}
        problems: list[str] = []
        try:
            with os.scandir(self.root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            return {}, [f"cannot list {self.root}: {exc.strerror or exc}"]
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                model = validate_model_name(entry.name)
            except InvalidName as exc:
                problems.append(f"{entry.path}: {exc}; ignored")
                continue
            if not entry.is_dir(follow_symlinks=False):
                problems.append(f"{entry.path} is not a directory; ignored")
                continue
            versions, bad = self._scan_model(model, entry.path)
            problems.extend(bad)
            if versions:
                present[model] = versions
        return present, problems

    def installed_versions(self, model: str) -> list[int]:
        """Installed versions of one model (one ``scandir``); problems are not reported."""
        path = self.root / validate_model_name(model)
        return self._scan_model(model, str(path))[0]

    def _scan_model(self, model: str, path: str) -> tuple[list[int], list[str]]:
        versions: list[int] = []
        problems: list[str] = []
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return [], []
        except OSError as exc:
            return [], [f"cannot list {path}: {exc.strerror or exc}"]
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                version = parse_version(entry.name)
            except InvalidName as exc:
                problems.append(f"{entry.path}: {exc}; ignored")
                continue
            why = self._not_installed(model, version, Path(entry.path))
            if why is None:
                versions.append(version)
            elif why:
                problems.append(f"{entry.path}: {why}; not served")
        return sorted(versions), problems

    def is_installed(self, model: str, version: int) -> bool:
        return self._not_installed(model, version, self.version_path(model, version)) is None

    def _not_installed(self, model: str, version: int, path: Path) -> str | None:
        """Why ``path`` is not an installed version (``""``: it vanished), or None."""
        try:
            manifest = self._manifest(model, version, path)
        except FileNotFoundError:
            return "" if not os.path.lexists(path) else f"no {MANIFEST_NAME}"
        except NotADirectoryError:
            return "is not a directory (symlinks are never followed)"
        except (OSError, InvalidManifest, ValueError) as exc:
            return f"bad {MANIFEST_NAME}: {exc}"
        if manifest is None:
            return "is not a directory (symlinks are never followed)"
        for f in manifest.files:
            try:
                st = os.lstat(path.joinpath(*f.path.split("/")))
            except FileNotFoundError:
                return f"{f.path} is missing"
            except OSError as exc:
                return f"{f.path}: {exc.strerror or exc}"
            if not stat.S_ISREG(st.st_mode) or st.st_size != f.size:
                return f"{f.path} is not a regular file of {f.size} bytes"
        return None

    @staticmethod
    def _manifest(model: str, version: int, path: Path) -> Manifest | None:
        if path.is_symlink() or not path.is_dir():
            if not os.path.lexists(path):
                raise FileNotFoundError(path)
            return None
        mpath = path / MANIFEST_NAME
        if mpath.is_symlink():
            raise InvalidManifest("is a symlink")
        return parse_manifest(mpath.read_bytes(), model, version)

    def installed_manifest(self, model: str, version: int) -> Manifest | None:
        """The manifest an installed version carries, or None if it is not installed."""
        path = self.version_path(model, version)
        if self._not_installed(model, version, path) is not None:
            return None
        return self._manifest(model, version, path)

    def verify(self, model: str, version: int) -> str | None:
        """Deep check of an installed version (CRC32C of every file); None when it is sound."""
        manifest = self.installed_manifest(model, version)
        if manifest is None:
            return f"{model}/{version} is not installed"
        base = self.version_path(model, version)
        for f in manifest.files:
            size, crc = crc32c_of_file(base.joinpath(*f.path.split("/")))
            if size != f.size or crc != f.crc32c:
                return f"{model}/{version}/{f.path}: crc32c {crc}, manifest says {f.crc32c}"
        return None

    def version_path(self, model: str, version: int) -> Path:
        """``LOCAL/<model>/<version>`` for checked names; raises InvalidName."""
        return safe_join(self.root, validate_model_name(model), str(parse_version(version)))

    def read_desired(self) -> DesiredState:
        """The local desired document; never raises."""
        try:
            data = read_json(self.desired_path)
        except FileNotFoundError:
            return DesiredState(None, "")
        except (OSError, ValueError) as exc:
            return DesiredState(None, f"{self.desired_path} unreadable: {exc}")
        return parse_desired(data, str(self.desired_path))

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    # -- writing: the puller only -------------------------------------------------------------

    def prepare(self) -> int:
        """Create the meta directories and wipe staging a killed puller left; entries removed.

        Called by the puller at start only (staging is its own work in progress).
        """
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

    def write_desired(self, doc: LocalDesired) -> bool:
        """Write the local desired document atomically unless it already says the same.

        Returns True when the file was written. The puller writes it naming a version
        BEFORE installing that version, so the config manager never takes a version that
        just landed for garbage.
        """
        if doc.same_content(self.read_desired().doc):
            return False
        self.meta.mkdir(parents=True, exist_ok=True)
        if not doc.generated_at:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            doc = LocalDesired(doc.models, doc.source, doc.source_generation, stamp)
        atomic_write_json(self.desired_path, doc.to_json())
        return True

    def new_staging(self, model: str, version: int) -> Path:
        """A fresh, empty staging directory for one pull of ``model``/``version``."""
        self.staging.mkdir(parents=True, exist_ok=True)
        name = f"{validate_model_name(model)}.{parse_version(version)}."
        return Path(tempfile.mkdtemp(prefix=name, dir=self.staging))

    def discard_staging(self, staging: Path) -> None:
        """Remove a staging directory (a failed or cancelled pull)."""
        if Path(staging).parent != self.staging:
            raise ValueError(f"{staging} is not a staging directory of {self.root}")
        shutil.rmtree(staging, ignore_errors=True)

    def install(
        self,
        staging: Path,
        manifest: Manifest,
        *,
        fsync: bool = True,
        guard: AbstractContextManager[object] | None = None,
    ) -> Path:
        """Install a staging directory whose files were verified against ``manifest``.

        Writes the manifest into it (last), then moves it into place with one ``rename``,
        which refuses an existing non-empty target: nothing is ever replaced in place.
        Raises OSError when the target exists. ``guard`` is entered around the rename alone
        (the puller uses it to make a cancellation and an install exclusive).
        """
        mpath = Path(staging) / MANIFEST_NAME
        with open(mpath, "wb") as fh:
            fh.write(manifest.dumps())
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if fsync:
            for dirpath, _dirs, _files in os.walk(staging):
                fsync_dir(dirpath)
        # mkdtemp made the staging directory 0700; TF Serving runs as its own user (it must
        # not read the daemons' tokens) and reads every installed version.
        os.chmod(staging, VERSION_DIR_MODE)
        target = self.version_path(manifest.model, manifest.version)
        with guard or contextlib.nullcontext():
            self._rename_into_place(Path(staging), target)
        if fsync:
            fsync_dir(target.parent)
        return target

    @staticmethod
    def _rename_into_place(staging: Path, target: Path) -> None:
        for attempt in range(3):
            target.parent.mkdir(exist_ok=True)
            try:
                os.rename(staging, target)  # atomic; refuses a non-empty existing target
                break
            except FileNotFoundError:
                # The config manager removed the emptied model directory in between.
                if attempt == 2 or not staging.is_dir():
                    raise

    # -- deleting: the config manager only, after TF Serving unloaded the version -----------

    def delete_version(self, model: str, version: int) -> bool:
        """Remove ``LOCAL/<model>/<version>``: one rename into trash (atomic), then delete.

        Only the config manager calls this, and only for a version TF Serving reports
        unloaded (END / NOT_FOUND). Symlinks and non-directories are left alone.
        """
        path = self.version_path(model, version)
        if path.is_symlink() or not path.is_dir():
            log.warning("not deleting: not a plain directory", extra=kv(path=str(path)))
            return False
        self.trash.mkdir(parents=True, exist_ok=True)
        target = self.trash / f"{model}.{version}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return False
        shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds when nothing is left of the model
        return True

    def clean_trash(self) -> None:
        """Finish deletions a killed config manager left in the trash."""
        if self.trash.is_dir():
            for entry in self.trash.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
