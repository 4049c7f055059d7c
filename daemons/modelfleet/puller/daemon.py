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

from ..desired import DESIRED_KEY, InvalidDesired, read_remote
from ..localdir import DesiredModel, LocalDesired, LocalModelDir
from ..logsetup import kv
from ..node.daemon import NodeDaemon, PassOutcome
from ..store.base import NotFound, RemoteStore, StoreError
from ..store.catalog import complete_versions, open_store, read_manifest
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


class PullerDaemon(NodeDaemon):
    """remote_model_puller on the node daemon skeleton (:mod:`modelfleet.node.daemon`)."""

    service = SERVICE
    settings: PullerSettings

    def __init__(self, settings: PullerSettings, store: RemoteStore | None = None) -> None:
        self.metrics = PullerMetrics()
        super().__init__(settings, self.metrics.registry)
        self.store = store or open_store(
            settings.remote,
            cloudsdk_config=settings.cloudsdk_config or None,
            on_request=self.metrics.count_request,
        )
        self.local = LocalModelDir(settings.local_dir)
        self.sync_loop = self.add_loop("sync", self._sync_pass)
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

    def ready(self) -> tuple[bool, str]:
        if not self.sync_loop.first_pass_done.is_set():
            return False, "first sync pass not finished"
        if self.last_sync.get("ok"):
            return True, "ok"
        return True, f"serving local copies; last sync failed: {self.last_sync.get('error')}"

    def sync_now(self) -> None:
        """Wake the sync loop and retry failed versions at once (POST /api/v1/sync)."""
        self.sync_loop.wake(force=True)

    # -- sync loop -----------------------------------------------------------------------

    def _sync_pass(self, force: bool) -> PassOutcome:
        try:
            self.sync_once(force=force)
        except Exception as exc:
            self.last_sync = {
                "at": _now_iso(),
                "ok": False,
                "error": f"internal error: {exc}",
                "generation": self.generation,
            }
            raise
        detail = "" if self.last_sync.get("ok") else str(self.last_sync.get("error") or "")
        return True, detail

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
            if self.sync_loop.stopping:
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
            remote = read_remote(self.store)
        except InvalidDesired as exc:
            self.generation = info.generation  # do not re-read a broken document every poll
            self.problems = [f"desired.json: {exc}"]
            raise
        if remote.state is None:  # deleted between stat and read: the next pass takes the fallback
            return False
        generation = remote.generation
        targets, problems = targets_from_desired(remote.state)
        self.problems = [*remote.problems, *problems]
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
                self.sync_loop.beat()

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
        master = self.master_status()
        if master is not None:
            body["master"] = master
        return body
