"""The puller's status document (:class:`~modelfleet.contracts.node.PullerStatus`).

Built fresh for every request: what is installed comes from the disk, pulls and failures
from the scheduler's snapshots, never from a copy that another process could invalidate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..contracts.node import (
    DiskStatus,
    MasterLink,
    PullerStatus,
    PullFailure,
    PullProgress,
)

if TYPE_CHECKING:
    from .daemon import PullerDaemon

__all__ = ["build_status", "iso"]


def iso(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts if ts is not None else time.time()))


def build_status(daemon: PullerDaemon) -> PullerStatus:
    s = daemon.settings
    present, not_installed = daemon.local.scan()
    try:
        free = daemon.local.free_bytes()
    except OSError:
        free = -1
    pulls = [
        PullProgress(
            model=j.op.model,
            version=j.op.version,
            bytes_done=j.bytes_done,
            bytes_total=j.bytes_total,
            state=j.state,
            started_at=iso(j.started),
            cancelling=j.cancel.is_set(),
        )
        for j in daemon.scheduler.active()
    ]
    errors = [
        PullFailure(
            model=op.model,
            version=op.version,
            reason=f.reason,
            error=f.error,
            at=iso(f.at),
            attempts=f.attempts,
            retry_at=iso(f.next_try) if f.next_try else None,
        )
        for op, f in sorted(daemon.scheduler.failures_snapshot().items())
    ]
    errors.extend(PullFailure(None, None, "desired", p) for p in daemon.remote.problems)
    master = daemon.master_status()
    return PullerStatus(
        hostname=s.hostname,
        zone=s.zone,
        remote=daemon.store.url,
        last_sync=daemon.last_sync,
        local={m: tuple(v) for m, v in present.items()},
        desired={m: d.to_json() for m, d in daemon.desired_models.items()},
        pulls=tuple(pulls),
        errors=tuple(errors),
        disk=DiskStatus(free, s.disk_reserve_bytes),
        not_installed=tuple(not_installed),
        master=MasterLink(**master) if master is not None else None,
    )
