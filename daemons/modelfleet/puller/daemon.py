"""remote_model_puller: keep LOCAL_MODEL_DIRECTORY equal to the bucket's desired state.

The sync pass (one thread, on the node daemon skeleton) never waits on a download. Each pass:

1. refreshes the targets from the bucket (:mod:`.remote`: one metadata read when idle);
2. reads what is installed from the disk (the config manager deletes behind our back, so
   nothing about the disk is remembered between passes);
3. hands the scheduler (:mod:`.scheduler`) what each model wants and what is missing: it
   cancels pulls nobody wants any more, then — under its lock, before any new pull starts —
   the pass rewrites the local desired document, then the scheduler starts what may start.

So a new desired state reaches the config manager within one pass even while a 1 GiB pull
runs: a rollback to a version on disk is served at once, the obsolete pull stops within one
chunk and its staging is removed. Pulls of different models run side by side. When a pull
ends, the pass runs again. The puller never deletes a version directory: freeing disk is the
config manager's job once TF Serving has unloaded the version (invariant 2).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from ..contracts.node import LastSync, PullState
from ..contracts.schema import to_json
from ..desired import InvalidDesired
from ..localdir import DesiredModel, LocalDesired, LocalModelDir
from ..logsetup import kv
from ..node.daemon import NodeDaemon, PassOutcome
from ..store.base import Cancelled, NotFound, RemoteStore, StoreError
from ..store.catalog import open_store, read_manifest
from ..store.manifest import InvalidManifest
from .downloader import PullError, pull_version
from .metrics import PullerMetrics
from .remote import RemoteTargets
from .scheduler import Failure, PullJob, PullScheduler
from .settings import SERVICE, PullerSettings
from .status import build_status, iso
from .watcher import AddOp, diff, local_desired_models

__all__ = ["PullerDaemon"]

log = logging.getLogger(__name__)


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
        self.remote = RemoteTargets(self.store)
        self.scheduler = PullScheduler(
            self._pull,
            concurrency=settings.pull_concurrency,
            base_backoff=lambda: settings.poll_interval,
            on_done=self._pull_done,
        )
        self.sync_loop = self.add_loop("sync", self._sync_pass)
        self.last_sync = LastSync()
        self.desired_models: dict[str, DesiredModel] = {}
        self._idle = threading.Condition()

    # -- lifecycle -------------------------------------------------------------------------

    def recover(self) -> None:
        """Wipe staging a killed puller left; report what on disk is not installed."""
        self.local.prepare()
        present, problems = self.local.scan()
        for problem in problems:
            log.warning("local directory problem", extra=kv(problem=problem))
        previous = self.local.read_desired()
        if previous.models is not None:
            self.desired_models = previous.models
        self._update_gauges(present)
        log.info(
            "puller recovered",
            extra=kv(remote=self.store.url, local=str(self.settings.local_dir)),
        )

    def stop(self) -> None:
        super().stop()
        self.scheduler.cancel_all()

    def ready(self) -> tuple[bool, str]:
        if not self.sync_loop.first_pass_done.is_set():
            return False, "first sync pass not finished"
        if self.last_sync.ok:
            return True, "ok"
        return True, f"serving local copies; last sync failed: {self.last_sync.error}"

    def sync_now(self) -> None:
        """Wake the sync loop and retry failed versions at once (POST /api/v1/sync)."""
        self.sync_loop.wake(force=True)

    @property
    def installed(self) -> dict[str, list[int]]:
        """Installed versions, read from the disk now."""
        return self.local.scan()[0]

    # -- the sync pass ---------------------------------------------------------------------

    def _sync_pass(self, force: bool) -> PassOutcome:
        try:
            self.sync_once(force=force)
        except Exception as exc:
            self.last_sync = LastSync(
                iso(), False, f"internal error: {exc}", self.remote.generation
            )
            raise
        return True, "" if self.last_sync.ok else self.last_sync.error

    def sync_once(self, force: bool = False) -> list[AddOp]:
        """One reconcile pass; returns the pulls it started (they run in the background)."""
        started = time.time()
        bucket_was_down = self.last_sync.ok is False
        try:
            refreshed = self.remote.refresh(force)
        except (StoreError, InvalidDesired) as exc:
            self.metrics.syncs.labels(result="error").inc()
            self.last_sync = LastSync(iso(started), False, str(exc), self.remote.generation)
            log.warning("sync failed", extra=kv(error=str(exc)))
            self._update_gauges(self.local.scan()[0])
            return []
        self.metrics.desired_generation.set(self.remote.generation or 0)
        targets = self.remote.targets
        if targets is None:
            return []
        present, _ = self.local.scan()  # the disk, every pass: the config manager deletes
        missing = diff(targets, present)

        def write_local_desired() -> None:
            models = local_desired_models(targets, present, self.settings.retention)
            doc = LocalDesired(models, self.store.url, self.remote.generation)
            self.local.write_desired(doc)
            self.desired_models = models

        def retry_now(failure: Failure) -> bool:
            # Backoff protects the bucket from a broken version, not from its own outage:
            # once the bucket answers again, versions that failed on it are retried at once.
            return refreshed or force or (bucket_was_down and failure.reason == "remote")

        begun = self.scheduler.reconcile(
            {m: t.versions for m, t in targets.items()},
            missing,
            retry_now=retry_now,
            before_start=write_local_desired,
        )
        self.metrics.syncs.labels(result="synced" if refreshed or missing else "unchanged").inc()
        self.metrics.last_sync.set(started)
        self.last_sync = LastSync(iso(started), True, "", self.remote.generation)
        self._update_gauges(present)
        return begun

    def settle(self, timeout: float = 120.0, force: bool = False) -> None:
        """Run passes until no pull runs and a pass starts none, or starts only versions
        that already ran since the call (tests and benchmarks wait on this)."""
        deadline = time.monotonic() + timeout
        tried: set[AddOp] = set()
        while True:
            begun = self.sync_once(force=force)
            force = False
            with self._idle:
                while self.scheduler.busy():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"pulls still running after {timeout}s")
                    self._idle.wait(min(left, 1.0))
            if not set(begun) - tried:
                return
            tried.update(begun)

    # -- one pull (in its own thread) ------------------------------------------------------

    def _pull(self, job: PullJob, guard: contextlib.AbstractContextManager[object]) -> None:
        op, s = job.op, self.settings
        started = time.monotonic()
        try:
            manifest, _ = read_manifest(self.store, op.model, op.version)
            job.bytes_total = manifest.total_bytes
            if job.cancel.is_set():
                raise Cancelled(f"{op.model}/{op.version} cancelled")
            prefix = f"{op.model}/{op.version}/"
            listing = {
                o.key[len(prefix) :]: o
                for o in self.store.list_objects(f"{op.model}/{op.version}")
                if o.key.startswith(prefix)
            }
        except NotFound:
            raise PullError(
                "incomplete", f"{op.model}/{op.version} has no manifest (not published)"
            ) from None
        except InvalidManifest as exc:
            raise PullError("manifest", f"{op.model}/{op.version}: {exc}") from None
        except StoreError as exc:
            raise PullError("remote", f"{op.model}/{op.version}: {exc}") from None
        # Concurrent pulls share the disk: count what the others still have to write.
        pending = sum(j.bytes_total - j.bytes_done for j in self.scheduler.active() if j is not job)

        def on_state(state: PullState) -> None:
            job.state = state

        pull_version(
            self.store,
            self.local,
            manifest,
            listing,
            workers=s.download_workers,
            slice_bytes=s.slice_bytes,
            reserve_bytes=s.disk_reserve_bytes + max(0, pending),
            fsync=s.fsync,
            progress=job.add,
            on_state=on_state,
            cancel=job.cancel,
            guard=guard,
        )
        self.metrics.pulls.inc()
        self.metrics.pulled_bytes.inc(manifest.total_bytes)
        self.metrics.pull_seconds.observe(time.monotonic() - started)

    def _pull_done(self, job: PullJob, failure: Failure | None) -> None:
        if failure is not None:
            self.metrics.pull_failures.labels(reason=failure.reason).inc()
        with self._idle:
            self._idle.notify_all()
        if not self.sync_loop.stopping:
            self.sync_loop.wake()  # start the next pull, refresh the local desired document

    def _update_gauges(self, present: dict[str, list[int]]) -> None:
        self.metrics.local_versions.set(sum(len(v) for v in present.values()))
        self.metrics.errors.set(len(self.scheduler.failures_snapshot()))
        with contextlib.suppress(OSError):
            self.metrics.disk_free.set(self.local.free_bytes())

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(to_json(build_status(self)))
