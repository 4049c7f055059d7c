"""remote_model_puller: keep LOCAL_MODEL_DIRECTORY equal to the bucket's desired state.

One sync thread owns all pull state; HTTP handlers only read snapshots of it and poke the
thread awake (``POST /api/v1/sync``). An idle pass costs one metadata read of
desired.json: the document is re-read only when its generation moves, and manifests and
listings are fetched only for versions that are wanted and missing. Failures are kept per
version with a capped backoff, shown in status and metrics, and never block other models.
The puller never deletes a version directory: freeing disk is the config manager's job
once TF Serving has unloaded the version (invariant 2).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, jsonify

from ..localdir import DesiredModel, LocalDesired, LocalModelDir
from ..logsetup import kv
from ..node.health import HealthFile
from ..node.registration import Registrar
from ..store.base import NotFound, RemoteStore, StoreError
from ..store.catalog import complete_versions, open_store, read_manifest
from ..store.desired import DESIRED_KEY, InvalidDesired, read_desired
from ..store.manifest import InvalidManifest, Manifest
from .downloader import PullError, pull_version
from .metrics import PullerMetrics
from .settings import SERVICE, PullerSettings
from .watcher import (
    AddOp,
    ModelTarget,
    diff,
    local_desired_models,
    targets_from_catalog,
    targets_from_desired,
)

__all__ = ["PullerDaemon"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 600.0


def _now_iso(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts if ts is not None else time.time()))


@dataclass
class _Failure:
    reason: str
    error: str
    at: float
    attempts: int = 1
    next_try: float = 0.0


@dataclass
class _Pull:
    bytes_total: int
    bytes_done: int = 0
    state: str = "queued"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.bytes_done += n


class PullerDaemon:
    """The :class:`~modelfleet.node.admin.NodeDaemon` of the puller."""

    service = SERVICE

    def __init__(self, settings: PullerSettings, store: RemoteStore | None = None) -> None:
        self.settings = settings
        self.metrics = PullerMetrics()
        self.registry = self.metrics.registry
        self.health = HealthFile(settings.state_dir, SERVICE)
        self.store = store or open_store(
            settings.remote,
            cloudsdk_config=settings.cloudsdk_config or None,
            on_request=self.metrics.count_request,
        )
        self.local = LocalModelDir(settings.local_dir)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._force = False
        self._thread: threading.Thread | None = None
        self._registrar: Registrar | None = None
        self._first_pass_done = False
        self._last_beat = 0.0
        # State below is written by the sync thread only.
        self.present: dict[str, list[int]] = {}
        self.targets: dict[str, ModelTarget] | None = None
        self.generation: int | None = None
        self.problems: list[str] = []
        self.failures: dict[AddOp, _Failure] = {}
        self.pulls: dict[AddOp, _Pull] = {}
        self.manifests: dict[AddOp, Manifest] = {}
        self.last_sync: dict[str, Any] = {"at": None, "ok": None, "error": "", "generation": None}
        self.desired_models: dict[str, DesiredModel] = {}

    # -- NodeDaemon protocol -------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild state from disk (the syncer): wipe staging, scan installed versions."""
        self.local.prepare()
        self.present, local_problems = self.local.scan()
        for problem in local_problems:
            log.warning("local directory problem", extra=kv(problem=problem))
        previous = self.local.read_desired()
        if previous.models is not None:
            self.desired_models = previous.models
        self._update_gauges()

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()
        s = self.settings
        if s.master_url:
            self._registrar = Registrar(
                master_url=s.master_url,
                token=s.cluster_token,
                hostname=s.hostname,
                service=SERVICE,
                port=s.advertise_port,
                zone=s.zone,
                interval=s.heartbeat_interval,
            )
            self._registrar.start()
        log.info(
            "puller started",
            extra=kv(remote=self.store.url, local=str(s.local_dir), poll=s.poll_interval),
        )

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._registrar:
            self._registrar.stop()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def ready(self) -> tuple[bool, str]:
        if not self._first_pass_done:
            return False, "first sync pass not finished"
        if self.last_sync.get("ok"):
            return True, "ok"
        return True, f"serving local copies; last sync failed: {self.last_sync.get('error')}"

    def sync_now(self) -> None:
        """Wake the sync loop and retry failed versions at once (POST /api/v1/sync)."""
        with self._lock:
            self._force = True
        self._wake.set()

    def blueprint(self) -> Blueprint:
        bp = Blueprint("puller_api", __name__)

        @bp.get("/status")
        def status() -> Any:
            return jsonify(self.status())

        @bp.post("/sync")
        def sync() -> Any:
            self.sync_now()
            return jsonify({"accepted": True}), 202

        return bp

    # -- sync loop -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                force, self._force = self._force, False
            self._wake.clear()
            try:
                self.sync_once(force=force)
            except Exception as exc:  # the loop must survive anything
                log.exception("sync pass crashed")
                self.last_sync = {
                    "at": _now_iso(),
                    "ok": False,
                    "error": f"internal error: {exc}",
                    "generation": self.generation,
                }
            self._first_pass_done = True
            self._beat(force=True)
            self._wake.wait(self.settings.poll_interval)

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat > 5:
            self._last_beat = now
            detail = "" if self.last_sync.get("ok") else str(self.last_sync.get("error") or "")
            self.health.beat("sync", ok=True, detail=detail, max_age=self._max_age())

    def _max_age(self) -> float:
        return max(60.0, 3 * self.settings.poll_interval)

    def sync_once(self, force: bool = False) -> None:
        """One reconcile pass: refresh targets if the remote moved, then pull what is missing."""
        started = time.time()
        bucket_was_down = self.last_sync.get("ok") is False
        try:
            refreshed = self._refresh_targets(force)
        except (StoreError, InvalidDesired) as exc:
            self.metrics.syncs.labels(result="error").inc()
            self.last_sync = {
                "at": _now_iso(started),
                "ok": False,
                "error": str(exc),
                "generation": self.generation,
            }
            log.warning("sync failed", extra=kv(error=str(exc)))
            self._update_gauges()
            return
        if self.targets is None:
            return
        # What is installed comes from the disk every pass: the config manager deletes.
        self.present, _ = self.local.scan()
        ops = diff(self.targets, self.present)
        wanted = set(ops)
        for op in list(self.failures):
            if op not in wanted:
                del self.failures[op]
                self.manifests.pop(op, None)
        for failure in self.failures.values():
            # Backoff protects the bucket from a broken version, not from its own outage:
            # once the bucket answers again, versions that failed on it are retried at once.
            if refreshed or force or (bucket_was_down and failure.reason == "remote"):
                failure.next_try = 0.0
        self._write_local_desired()
        for op in ops:
            if self._stop.is_set():
                break
            failed = self.failures.get(op)
            if failed and failed.next_try > time.time():
                continue
            self._pull(op)
            self._write_local_desired()
        self.metrics.syncs.labels(result="synced" if refreshed or ops else "unchanged").inc()
        self.metrics.last_sync.set(started)
        self.last_sync = {
            "at": _now_iso(started),
            "ok": True,
            "error": "",
            "generation": self.generation,
        }
        self._update_gauges()

    def _refresh_targets(self, force: bool) -> bool:
        """Update ``self.targets``; True when they were re-read from the remote."""
        info = self.store.stat(DESIRED_KEY)
        if info is None:
            # No desired.json: newest complete version of every model, one listing per pass.
            catalog, bad = complete_versions(self.store)
            self.problems = [f"{b}: invalid model or version name, skipped" for b in bad]
            targets = targets_from_catalog(catalog)
            changed = targets != self.targets or self.generation != 0
            self.targets, self.generation = targets, 0
            self.metrics.desired_generation.set(0)
            return changed
        if not force and info.generation == self.generation and self.targets is not None:
            return False
        try:
            doc, generation = read_desired(self.store)
        except InvalidDesired as exc:
            self.generation = info.generation  # do not re-read a broken document every poll
            self.problems = [f"desired.json: {exc}"]
            raise
        if doc is None:  # deleted between stat and read: the next pass takes the fallback
            return False
        targets, problems = targets_from_desired(doc)
        self.problems = problems
        if self.generation != generation:
            log.info("desired state changed", extra=kv(generation=generation, models=len(targets)))
        self.targets, self.generation = targets, generation
        self.metrics.desired_generation.set(generation)
        return True

    def _pull(self, op: AddOp) -> None:
        s = self.settings
        started = time.monotonic()
        try:
            manifest = self.manifests.get(op)
            if manifest is None:
                try:
                    manifest, _ = read_manifest(self.store, op.model, op.version)
                except NotFound:
                    raise PullError(
                        "incomplete", f"{op.model}/{op.version} has no manifest (not published)"
                    ) from None
                except InvalidManifest as exc:
                    raise PullError("manifest", f"{op.model}/{op.version}: {exc}") from None
                self.manifests[op] = manifest
            pull = _Pull(bytes_total=manifest.total_bytes)
            self.pulls[op] = pull
            prefix = f"{op.model}/{op.version}/"
            listing = {
                o.key[len(prefix) :]: o
                for o in self.store.list_objects(f"{op.model}/{op.version}")
                if o.key.startswith(prefix)
            }

            def progress(n: int) -> None:
                pull.add(n)
                self._beat()

            def on_state(state: str) -> None:
                pull.state = state

            pull_version(
                self.store,
                self.local,
                manifest,
                listing,
                workers=s.download_workers,
                slice_bytes=s.slice_bytes,
                reserve_bytes=s.disk_reserve_bytes,
                fsync=s.fsync,
                progress=progress,
                on_state=on_state,
            )
        except (PullError, StoreError) as exc:
            reason = exc.reason if isinstance(exc, PullError) else "remote"
            self._fail(op, reason, str(exc))
            return
        finally:
            self.pulls.pop(op, None)
        self.failures.pop(op, None)
        self.manifests.pop(op, None)
        self.present.setdefault(op.model, [])
        self.present[op.model] = sorted({*self.present[op.model], op.version})
        self.metrics.pulls.inc()
        self.metrics.pulled_bytes.inc(manifest.total_bytes)
        self.metrics.pull_seconds.observe(time.monotonic() - started)

    def _fail(self, op: AddOp, reason: str, error: str) -> None:
        now = time.time()
        previous = self.failures.get(op)
        attempts = previous.attempts + 1 if previous else 1
        # Disk is checked locally (no remote cost): retry every pass; the rest backs off.
        delay = (
            0.0
            if reason == "disk"
            else min(_MAX_BACKOFF, self.settings.poll_interval * 2**attempts)
        )
        self.failures[op] = _Failure(reason, error, now, attempts, now + delay)
        self.metrics.pull_failures.labels(reason=reason).inc()
        if previous is None or previous.error != error:
            log.error(
                "version not installed",
                extra=kv(model=op.model, version=op.version, reason=reason, error=error),
            )

    def _write_local_desired(self) -> None:
        if self.targets is None:
            return
        models = local_desired_models(self.targets, self.present, self.settings.retention)
        self.local.write_desired(LocalDesired(models, self.store.url, self.generation))
        self.desired_models = models

    def _update_gauges(self) -> None:
        self.metrics.local_versions.set(sum(len(v) for v in self.present.values()))
        self.metrics.errors.set(len(self.failures))
        with contextlib.suppress(OSError):
            self.metrics.disk_free.set(self.local.free_bytes())

    # -- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        s = self.settings
        try:
            free = self.local.free_bytes()
        except OSError:
            free = -1
        pulls = [
            {
                "model": op.model,
                "version": op.version,
                "bytes_done": p.bytes_done,
                "bytes_total": p.bytes_total,
                "state": p.state,
            }
            for op, p in sorted(dict(self.pulls).items())
        ]
        errors = [
            {
                "model": op.model,
                "version": op.version,
                "reason": f.reason,
                "error": f.error,
                "at": _now_iso(f.at),
                "attempts": f.attempts,
            }
            for op, f in sorted(dict(self.failures).items())
        ]
        errors.extend(
            {"model": None, "version": None, "reason": "desired", "error": p, "at": None}
            for p in self.problems
        )
        body: dict[str, Any] = {
            "service": SERVICE,
            "hostname": s.hostname,
            "zone": s.zone,
            "remote": self.store.url,
            "last_sync": dict(self.last_sync),
            "local": self.local.scan()[0],  # the disk, not memory: others delete
            "desired": {m: d.to_json() for m, d in self.desired_models.items()},
            "pulls": pulls,
            "errors": errors,
            "disk": {"free_bytes": free, "reserve_bytes": s.disk_reserve_bytes},
        }
        if self._registrar is not None:
            body["master"] = {
                "url": s.master_url,
                "registered": self._registrar.registered,
                "error": self._registrar.last_error,
            }
        return body
