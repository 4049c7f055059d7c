"""Which pulls run: one at a time per model, a few models at once, obsolete ones cancelled.

The sync pass (the only caller of :meth:`PullScheduler.reconcile`) hands over what every
model wants and which of those versions are missing on disk; the scheduler owns everything
about pulls from there:

- at most one pull per model (its versions arrive newest first), at most ``concurrency``
  pulls at once across models, each in its own thread, so a 1 GiB pull of one model never
  holds back another model's hot fix;
- a pull whose version is no longer wanted is cancelled at once: its transfers stop within
  one chunk, its staging directory is removed, and the slot goes to what is wanted now;
- a failed version backs off (capped, per version) instead of hammering the bucket; disk
  failures are retried every poll (they cost nothing remote), and the caller can clear all
  backoffs (a forced sync, a new desired document, the bucket coming back);
- "cancelled" and "installed" are exclusive: a pull renames its version into place only
  under the scheduler's lock and only if it was not cancelled, and the sync pass cancels
  under the same lock before it rewrites the local desired document — so a version the
  desired document no longer names never lands after that document was written.

When a pull ends (installed, failed or cancelled) ``on_done`` is called: the daemon wakes its
sync pass so the next pull starts and the local desired document is refreshed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..contracts.node import PullState
from ..logsetup import kv
from ..store.base import Cancelled
from .downloader import PullError
from .watcher import AddOp

__all__ = ["Failure", "PullJob", "PullScheduler"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 600.0


@dataclass
class Failure:
    """Why a version is not installed, and when it may be tried again."""

    reason: str
    error: str
    at: float
    attempts: int = 1
    next_try: float = 0.0


@dataclass
class PullJob:
    """One running pull; its progress fields are written by its own thread only."""

    op: AddOp
    started: float
    cancel: threading.Event = field(default_factory=threading.Event)
    bytes_total: int = 0
    bytes_done: int = 0
    state: PullState = "starting"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n


Runner = Callable[[PullJob, "contextlib.AbstractContextManager[object]"], None]
"""``run(job, guard)``: pull ``job.op``; raise PullError, Cancelled or anything else."""


class PullScheduler:
    def __init__(
        self,
        run: Runner,
        *,
        concurrency: int,
        base_backoff: Callable[[], float],
        on_done: Callable[[PullJob, Failure | None], None] = lambda _job, _failure: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._run = run
        self.concurrency = max(1, concurrency)
        self._base_backoff = base_backoff
        self._on_done = on_done
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, PullJob] = {}  # model -> its one running pull
        self._threads: dict[str, threading.Thread] = {}
        self.failures: dict[AddOp, Failure] = {}

    # -- the sync pass -----------------------------------------------------------------------

    def reconcile(
        self,
        wanted: Mapping[str, Sequence[int]],
        missing: Sequence[AddOp],
        *,
        retry_now: Callable[[Failure], bool] = lambda _f: False,
        before_start: Callable[[], None] = lambda: None,
    ) -> list[AddOp]:
        """Cancel obsolete pulls, forget obsolete failures, start what may start.

        ``missing`` lists wanted versions not on disk, in the order they should be pulled;
        ``before_start`` runs after the cancellations, still under the scheduler's lock and
        before any new pull starts (the daemon writes the local desired document there).
        Returns the ops started.
        """
        started: list[AddOp] = []
        with self._lock:
            for model, job in self._active.items():
                if job.op.version not in wanted.get(model, ()) and not job.cancel.is_set():
                    log.info(
                        "pull no longer wanted: cancelled",
                        extra=kv(model=model, version=job.op.version),
                    )
                    job.cancel.set()
            missing_set = set(missing)
            for op in [op for op in self.failures if op not in missing_set]:
                del self.failures[op]
            for failure in self.failures.values():
                if retry_now(failure):
                    failure.next_try = 0.0
            before_start()
            now = self._clock()
            for op in missing:
                if len(self._active) >= self.concurrency:
                    break
                if op.model in self._active:
                    continue
                failed = self.failures.get(op)
                if failed is not None and failed.next_try > now:
                    continue
                self._start(op)
                started.append(op)
        return started

    def _start(self, op: AddOp) -> None:
        job = PullJob(op, started=self._clock())
        self._active[op.model] = job
        thread = threading.Thread(
            target=self._work, args=(job,), name=f"pull-{op.model}", daemon=True
        )
        self._threads[op.model] = thread
        thread.start()

    # -- the pull threads ------------------------------------------------------------------

    @contextlib.contextmanager
    def _install_guard(self, job: PullJob) -> Iterator[None]:
        with self._lock:
            if job.cancel.is_set():
                raise Cancelled(f"{job.op.model}/{job.op.version} cancelled")
            yield

    def _work(self, job: PullJob) -> None:
        failure: Failure | None = None
        try:
            self._run(job, self._install_guard(job))
            job.state = "installed"
        except Cancelled:
            job.state = "cancelled"
        except PullError as exc:
            failure = self._fail(job.op, exc.reason, str(exc))
        except Exception as exc:  # a bug must not kill the thread silently
            log.exception("pull crashed", extra=kv(model=job.op.model, version=job.op.version))
            failure = self._fail(job.op, "internal", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                if self._active.get(job.op.model) is job:
                    del self._active[job.op.model]
                    self._threads.pop(job.op.model, None)
                if failure is None:
                    self.failures.pop(job.op, None)
        self._on_done(job, failure)

    def _fail(self, op: AddOp, reason: str, error: str) -> Failure:
        now = self._clock()
        with self._lock:
            previous = self.failures.get(op)
            attempts = previous.attempts + 1 if previous else 1
            # Disk is checked locally (no remote cost): retried every poll; the rest backs off.
            base = self._base_backoff()
            delay = base if reason == "disk" else min(_MAX_BACKOFF, base * 2**attempts)
            failure = Failure(reason, error, now, attempts, now + delay)
            self.failures[op] = failure
        if previous is None or previous.error != error:
            log.error(
                "version not installed",
                extra=kv(model=op.model, version=op.version, reason=reason, error=error),
            )
        return failure

    # -- reading -----------------------------------------------------------------------------

    def active(self) -> list[PullJob]:
        with self._lock:
            return sorted(self._active.values(), key=lambda j: j.op)

    def failures_snapshot(self) -> dict[AddOp, Failure]:
        with self._lock:
            return dict(self.failures)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._active)

    def cancel_all(self, timeout: float = 10.0) -> None:
        """Cancel every pull and wait for their threads (daemon stop, tests)."""
        with self._lock:
            threads = list(self._threads.values())
            for job in self._active.values():
                job.cancel.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
