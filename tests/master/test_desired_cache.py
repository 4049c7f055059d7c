"""The desired state for status: from the bucket within the deadline, else the last copy
(with its age), else nothing — and one read in flight at a time, however many callers."""

from __future__ import annotations

import threading
import time

from modelfleet.desired import DesiredState, ModelEntry, RemoteDesired
from modelfleet.master.desired_cache import DesiredCache

STATE = DesiredState(models={"m": ModelEntry(published=(1,))})


class Bucket:
    def __init__(self) -> None:
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.fail: Exception | None = None

    def read(self) -> RemoteDesired:
        self.reads += 1
        self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        return RemoteDesired(STATE, 5)


def test_bucket_then_cache_then_none() -> None:
    bucket = Bucket()
    now = [100.0]
    cache = DesiredCache(bucket.read, clock=lambda: now[0])
    state, source = cache.get(1.0)
    assert state == STATE and (source.source, source.generation) == ("bucket", 5)
    bucket.fail = OSError("503 from GCS")
    now[0] = 130.0
    state, source = cache.get(1.0)
    assert state == STATE and source.source == "cache" and source.age_seconds == 30.0
    assert "503" in source.error
    empty = DesiredCache(bucket.read)
    state, source = empty.get(1.0)
    assert state is None and source.source == "none" and "503" in source.error


def test_a_hung_read_is_shared_and_bounded() -> None:
    bucket = Bucket()
    bucket.gate.clear()  # the bucket hangs
    cache = DesiredCache(bucket.read)
    started = time.monotonic()
    results = [cache.get(0.2) for _ in range(5)]
    assert time.monotonic() - started < 2.0
    assert all(s.source == "none" and "within 0.2s" in s.error for _, s in results)
    assert bucket.reads == 1  # one thread waits on the bucket, not one per request
    bucket.gate.set()
    state, source = cache.get(5.0)
    assert source.source == "bucket" and state == STATE
