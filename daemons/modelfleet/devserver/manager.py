"""The dev server's core: TF Serving's ServerCore over a source and an aspired-versions manager.

``reload(entries)`` is HandleReloadConfigRequest (model_servers/server_core.cc ReloadConfig):

1. the version labels of the whole new config are checked FIRST, against what is AVAILABLE
   right now: a label on a version that is not AVAILABLE fails the reload with
   FAILED_PRECONDITION and nothing else changes (hence the config manager's add → move
   labels → drop steps);
2. the source gets the new config: models left out are un-aspired at once; versions of
   existing models are aspired at the source's next poll (:mod:`.source`), loaded and
   unloaded by the manager thread (:mod:`.aspired`) AFTER the RPC has returned;
3. the RPC waits only for models new to the config, until their latest version is
   AVAILABLE or END; if one ended in error the reload answers UNKNOWN "N model(s) did not
   become available". On the first config (start-up) every model is waited for.

Version states, failed loads and their retries live in :mod:`.harness`. Queries resolve a
request to a version the way ServerCore does (label → version, no version → the highest
AVAILABLE one) and answer NOT_FOUND / INVALID_ARGUMENT with TF Serving's wording.

Deliberate differences, for tests: a start-up config whose models fail to load does not
stop the process (TF Serving exits), ``--file_system_poll_wait_seconds`` takes fractions,
and the manager's turn (100 ms in TF Serving) can be shortened in-process
(:class:`ManagerOptions`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..tfserving.config import ModelEntry
from ..tfserving.proto import serving_pb2
from .aspired import AspiredVersionsManager
from .harness import RetryPolicy, StateMonitor, VersionRecord
from .loader import Loader, PredictError, Servable
from .source import FileSystemSource

__all__ = ["ManagerOptions", "ModelManager", "ServingError", "VersionRecord"]

SIGNATURE_DEF = "signature_def"  # the only metadata field TF Serving supports


class ServingError(Exception):
    """An RPC-level error: ``code`` is a gRPC / tensorflow.error code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ManagerOptions:
    """``tensorflow_model_server`` flags that shape loading, with TF Serving's defaults."""

    max_num_load_retries: int = 5
    load_retry_interval: float = 60.0  # --load_retry_interval_micros / 1e6
    num_load_threads: int = 0  # 0: loads run serially in the manager thread
    num_unload_threads: int = 0
    file_system_poll_wait: float = 1.0  # --file_system_poll_wait_seconds
    manage_interval: float = 0.1  # AspiredVersionsManager's manage_state_interval


class ModelManager:
    """Thread-safe; one reload at a time; ``start()`` runs the source and manager threads."""

    def __init__(self, loader: Loader, options: ManagerOptions | None = None) -> None:
        o = self.options = options or ManagerOptions()
        self.loader = loader
        self.monitor = StateMonitor()
        self.manager = AspiredVersionsManager(
            loader,
            self.monitor,
            retry=RetryPolicy(o.max_num_load_retries, o.load_retry_interval),
            num_load_threads=o.num_load_threads,
            num_unload_threads=o.num_unload_threads,
            manage_interval=o.manage_interval,
        )
        self.source = FileSystemSource(self.manager.set_aspired, o.file_system_poll_wait)
        self._reload_lock = threading.Lock()
        self._labels: dict[str, dict[str, int]] = {}
        self._labels_lock = threading.Lock()
        self._configured = False
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.manager.start()
            self.source.start()

    # -- HandleReloadConfigRequest -------------------------------------------------------

    def reload(self, entries: list[ModelEntry], timeout: float | None = None) -> None:
        """Replace the whole config (see the module docstring); raises :class:`ServingError`."""
        self.start()
        with self._reload_lock:
            first = not self._configured
            self._check_labels(entries)
            new_models = [e.name for e in entries if first or e.name not in self.source.config]
            mark = self.monitor.sequence()
            self.source.update_config(entries)
            self._configured = True
            if first:
                self.source.poll()  # the poll thread's first pass runs at once
            self._wait_available(new_models, mark, timeout)

    def _check_labels(self, entries: list[ModelEntry]) -> None:
        labels: dict[str, dict[str, int]] = {}
        for entry in entries:
            states = self.monitor.versions(entry.name)
            for label, version in entry.labels:
                row = states.get(version)
                if row is None or row.state != "AVAILABLE":
                    raise ServingError(
                        "FAILED_PRECONDITION",
                        f"Request to assign label to version {version} of model {entry.name}, "
                        "which is not currently available for inference",
                    )
                labels.setdefault(entry.name, {})[label] = version
        with self._labels_lock:
            self._labels = labels

    def _wait_available(self, models: list[str], mark: int, timeout: float | None) -> None:
        """ServerCore::WaitUntilModelsAvailable with a fresh monitor (events after ``mark``)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def latest(model: str) -> VersionRecord | None:
            rows = self.monitor.since(model, mark)
            return rows[max(rows)] if rows else None

        def settled() -> bool:
            return all(
                (r := latest(m)) is not None and r.state in ("AVAILABLE", "END") for m in models
            )

        while not settled():
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or self.manager.stopping:
                raise ServingError("DEADLINE_EXCEEDED", "models did not become available in time")
            self.monitor.wait_for(settled, timeout=min(0.5, left) if left is not None else 0.5)
        failed = [(m, r) for m in models if (r := latest(m)) is not None and r.state != "AVAILABLE"]
        if failed:
            items = "".join(
                f"{{{{name: {m} version: {r.version}}} due to error: "
                f"{r.error_code}: {r.error_message}}}, "
                for m, r in failed
            )
            raise ServingError(
                "UNKNOWN", f"{len(failed)} model(s) did not become available: {{{items}}}"
            )

    # -- queries ---------------------------------------------------------------------------

    def status(self, name: str, version: int | None = None) -> list[VersionRecord]:
        """GetModelStatus rows; NOT_FOUND as TF Serving words it."""
        rows = self.monitor.versions(name)
        if version is not None:
            if version not in rows:
                raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
            return [rows[version]]
        if not rows:
            raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
        return [rows[v] for v in sorted(rows)]

    def resolve(self, name: str, version: int | None, label: str | None) -> tuple[int, Servable]:
        """Pick the servable for a request: specific version, label, or latest available."""
        if not name:
            raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        if label:
            with self._labels_lock:
                version = self._labels.get(name, {}).get(label)
            if version is None:
                raise ServingError(
                    "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                )
        available = self.manager.available(name)
        if version is None:
            if not available:
                raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            version = max(available)
        servable = available.get(version)
        if servable is None:
            raise ServingError(
                "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
            )
        return version, servable

    def _resolve_spec(self, spec: serving_pb2.ModelSpec) -> tuple[int, Servable]:
        choice = spec.WhichOneof("version_choice")
        return self.resolve(
            spec.name,
            spec.version.value if choice == "version" else None,
            spec.version_label if choice == "version_label" else None,
        )

    def predict(self, request: serving_pb2.PredictRequest) -> tuple[int, dict[str, object]]:
        version, servable = self._resolve_spec(request.model_spec)
        try:
            outputs = servable.predict(
                request.model_spec.signature_name or "serving_default", request
            )
        except PredictError as exc:
            raise ServingError(exc.code, exc.message) from None
        return version, dict(outputs)

    def metadata(
        self, request: serving_pb2.GetModelMetadataRequest
    ) -> serving_pb2.GetModelMetadataResponse:
        """GetModelMetadata (servables/tensorflow/get_model_metadata_impl.cc)."""
        if not request.HasField("model_spec"):
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
        if not request.metadata_field:
            raise ServingError(
                "INVALID_ARGUMENT",
                "GetModelMetadataRequest must specify at least one metadata_field",
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF:
                raise ServingError("INVALID_ARGUMENT", f"Metadata field {field} is not supported")
        version, servable = self._resolve_spec(request.model_spec)
        signatures = serving_pb2.SignatureDefMap()
        for name, signature in servable.signature_defs().items():
            signatures.signature_def[name].CopyFrom(signature)
        response = serving_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.metadata[SIGNATURE_DEF].Pack(signatures)
        return response

    def summary(self) -> dict[str, dict[str, object]]:
        with self._labels_lock:
            labels = {m: dict(ls) for m, ls in self._labels.items()}
        return {
            name: {
                "versions": {
                    str(v): r.state for v, r in sorted(self.monitor.versions(name).items())
                },
                "labels": labels.get(name, {}),
            }
            for name in self.monitor.models()
        }

    def shutdown(self) -> None:
        self.source.stop()
        self.manager.stop()
