"""The dev server's model manager: TF Serving's version life cycle, in Python.

What it reproduces, because the config manager depends on it:

- ``reload(entries)`` replaces the whole config (TF Serving's HandleReloadConfigRequest).
  It starts loading every aspired version that is not loaded yet, blocks until each of them
  is AVAILABLE or has failed, then unloads versions no longer aspired and every version of
  models left out of the config, then swaps the version labels. New versions therefore
  become AVAILABLE before old ones go (TF Serving's availability-preserving policy).
- Version states walk START → LOADING → AVAILABLE → UNLOADING → END; a version that fails
  to load ends in END with an error status. Like TF Serving's ServableStateMonitor, END
  entries stay visible in GetModelStatus; a model never seen is NOT_FOUND.
- Version policies: ``specific`` (listed versions that exist on disk), ``latest``
  (``num_versions`` highest, default 1) and ``all``; only all-digit directory names are
  versions.
- Labels may only point to AVAILABLE versions, else the reload fails with
  FAILED_PRECONDITION (TF Serving without ``--allow_version_labels_for_unavailable_models``).
- A reload in which a model *new to the config* ends with no AVAILABLE version fails with
  UNKNOWN "Some models did not become available", as TF Serving's WaitUntilModelsAvailable.

Deliberate difference: a start-up config whose models fail to load does not stop the
process (TF Serving exits); the dev server keeps running and reports the failures.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..logsetup import kv
from ..tfserving.config import ModelEntry
from .loader import Loader, LoadError, PredictError, Servable

__all__ = ["ModelManager", "ServingError", "VersionRecord"]

log = logging.getLogger(__name__)


class ServingError(Exception):
    """An RPC-level error: ``code`` is a gRPC / tensorflow.error code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class VersionRecord:
    version: int
    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""
    servable: Servable | None = None


@dataclass
class _Model:
    name: str
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


def versions_on_disk(base_path: str) -> list[int]:
    """All-digit subdirectories of ``base_path`` (TF Serving ignores anything else)."""
    try:
        names = [p.name for p in Path(base_path).iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isascii() and n.isdigit() and int(n) < 2**63)


def aspired_versions(entry: ModelEntry) -> list[int]:
    on_disk = versions_on_disk(entry.base_path)
    if entry.policy == "specific":
        wanted = set(entry.versions)
        missing = sorted(wanted - set(on_disk))
        if missing:
            log.warning(
                "specific versions not found on disk",
                extra=kv(model=entry.name, versions=missing, base_path=entry.base_path),
            )
        return sorted(wanted & set(on_disk))
    if entry.policy == "all":
        return on_disk
    return on_disk[-max(1, entry.latest_count) :]


class ModelManager:
    """Holds every model's versions; thread-safe; one reload at a time."""

    def __init__(self, loader: Loader, load_threads: int = 4) -> None:
        self.loader = loader
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        self._config: dict[str, ModelEntry] = {}
        self._pool = ThreadPoolExecutor(max_workers=load_threads, thread_name_prefix="load")

    # -- life cycle ---------------------------------------------------------------------

    def _load(self, name: str, base_path: str, record: VersionRecord) -> None:
        with self._lock:
            record.state = "LOADING"
        path = Path(base_path) / str(record.version)
        try:
            servable = self.loader.load(path)
        except LoadError as exc:
            with self._lock:
                record.state, record.error_code, record.error_message = "END", exc.code, exc.message
            log.warning(
                "version failed to load",
                extra=kv(model=name, version=record.version, code=exc.code, error=exc.message),
            )
            return
        except Exception as exc:  # a loader bug must not leave the version LOADING forever
            with self._lock:
                record.state, record.error_code = "END", "UNKNOWN"
                record.error_message = f"{type(exc).__name__}: {exc}"
            log.exception("loader crashed", extra=kv(model=name, version=record.version))
            return
        with self._lock:
            record.servable = servable
            record.state = "AVAILABLE"
            record.error_code, record.error_message = "OK", ""
        log.info("version available", extra=kv(model=name, version=record.version))

    def _unload(self, name: str, record: VersionRecord) -> None:
        with self._lock:
            record.state = "UNLOADING"
        with self._lock:
            record.servable = None  # in-flight requests keep their reference until done
            record.state = "END"
            record.error_code, record.error_message = "OK", ""
        log.info("version unloaded", extra=kv(model=name, version=record.version))

    def reload(self, entries: list[ModelEntry]) -> None:
        """Replace the whole config; see the module docstring. Raises :class:`ServingError`."""
        with self._reload_lock:
            new_config = {e.name: e for e in entries}
            new_models = set(new_config) - set(self._config)
            aspired = {e.name: aspired_versions(e) for e in entries}
            futures: list[Future[None]] = []
            with self._lock:
                for name, versions in aspired.items():
                    model = self._models.setdefault(name, _Model(name))
                    for v in versions:
                        rec = model.versions.get(v)
                        if rec is not None and rec.state in ("AVAILABLE", "LOADING", "START"):
                            continue
                        rec = VersionRecord(v)  # a new load of a version starts at START
                        model.versions[v] = rec
                        futures.append(
                            self._pool.submit(self._load, name, new_config[name].base_path, rec)
                        )
                self._config = new_config
            for fut in futures:
                fut.result()
            # Unload what is no longer aspired, now that the new versions are settled.
            with self._lock:
                for name, model in self._models.items():
                    keep = set(aspired.get(name, ()))
                    for v, rec in model.versions.items():
                        if v not in keep and rec.state in ("AVAILABLE", "LOADING", "START"):
                            self._unload(name, rec)
                    if name not in new_config:
                        model.labels = {}
            failed_new = [
                n
                for n in sorted(new_models)
                if aspired[n]
                and not any(self._models[n].versions[v].state == "AVAILABLE" for v in aspired[n])
            ]
            self._update_labels(entries)
            if failed_new:
                raise ServingError(
                    "UNKNOWN",
                    "Some models did not become available: {"
                    + ", ".join(f"{{name: {n} version: {max(aspired[n])}}}" for n in failed_new)
                    + "}",
                )

    def _update_labels(self, entries: list[ModelEntry]) -> None:
        with self._lock:
            new_labels: dict[str, dict[str, int]] = {}
            for entry in entries:
                model = self._models.get(entry.name)
                for label, version in entry.labels:
                    rec = model.versions.get(version) if model else None
                    if rec is None or rec.state != "AVAILABLE":
                        raise ServingError(
                            "FAILED_PRECONDITION",
                            f"Request to assign label to version {version} of model "
                            f"{entry.name}, which is not currently available. Label "
                            "assignment is only allowed to versions that are available.",
                        )
                    new_labels.setdefault(entry.name, {})[label] = version
            for name, model in self._models.items():
                model.labels = new_labels.get(name, {})

    # -- queries ---------------------------------------------------------------------------

    def status(self, name: str, version: int | None = None) -> list[VersionRecord]:
        """GetModelStatus rows (copies); NOT_FOUND as TF Serving words it."""
        with self._lock:
            model = self._models.get(name)
            if version is not None:
                rec = model.versions.get(version) if model else None
                if rec is None:
                    raise ServingError(
                        "NOT_FOUND", f"Could not find version {version} of model {name}"
                    )
                return [VersionRecord(rec.version, rec.state, rec.error_code, rec.error_message)]
            if model is None or not model.versions:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            return [
                VersionRecord(r.version, r.state, r.error_code, r.error_message)
                for _, r in sorted(model.versions.items())
            ]

    def resolve(self, name: str, version: int | None, label: str | None) -> tuple[int, Servable]:
        """Pick the servable for a request: specific version, label, or latest available."""
        if not name:
            raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(name)
            if label:
                if model is None or label not in model.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.labels[label]
            available = {
                v: r.servable
                for v, r in (model.versions.items() if model else ())
                if r.state == "AVAILABLE" and r.servable is not None
            }
            if version is None:
                if not available:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Latest({name})"
                    )
                version = max(available)
            servable = available.get(version)
            if servable is None:
                raise ServingError(
                    "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
                )
            return version, servable

    def predict(self, request: object) -> tuple[int, dict[str, object]]:
        from ..tfserving.proto import serving_pb2

        assert isinstance(request, serving_pb2.PredictRequest)
        spec = request.model_spec
        choice = spec.WhichOneof("version_choice")
        version, servable = self.resolve(
            spec.name,
            spec.version.value if choice == "version" else None,
            spec.version_label if choice == "version_label" else None,
        )
        try:
            outputs = servable.predict(spec.signature_name or "serving_default", request)
        except PredictError as exc:
            raise ServingError(exc.code, exc.message) from None
        return version, dict(outputs)

    def summary(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                name: {
                    "versions": {str(v): r.state for v, r in sorted(m.versions.items())},
                    "labels": dict(m.labels),
                }
                for name, m in sorted(self._models.items())
            }

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
