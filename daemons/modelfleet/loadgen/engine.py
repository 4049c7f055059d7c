"""Open-loop load at a target rate with bounded concurrency, and its statistics.

Calls are scheduled on a fixed timetable (open loop): when the servers slow down, the
generator does not slow down with them, so latency figures include queueing the way a
real caller experiences it. A call that cannot start because every worker is busy is
counted as ``dropped`` rather than silently delayed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallOutcome", "LoadResult", "percentile", "run_load"]

# A call returns an outcome label: "ok", "error", "timeout", "killswitch" (refused locally).
CallOutcome = str


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class LoadResult:
    target_rate: float
    duration_s: float
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    killswitch_trips: int = 0
    per_target: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s else 0.0

    @property
    def success_pct(self) -> float:
        total = self.sent + self.dropped
        return 100.0 * self.outcomes["ok"] / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "target_rate": self.target_rate,
            "duration_s": round(self.duration_s, 3),
            "sent": self.sent,
            "achieved_rate": round(self.achieved_rate, 1),
            "success_pct": round(self.success_pct, 3),
            "outcomes": dict(self.outcomes),
            "dropped": self.dropped,
            "latency_ms": {
                "p50": round(percentile(lat, 50), 2),
                "p95": round(percentile(lat, 95), 2),
                "p99": round(percentile(lat, 99), 2),
                "max": round(lat[-1], 2) if lat else 0.0,
            },
            "killswitch_trips": self.killswitch_trips,
            "per_target": dict(self.per_target),
        }


def run_load(
    call: Callable[[int], tuple[CallOutcome, str]],
    *,
    rate: float,
    duration: float,
    concurrency: int = 32,
    stop: threading.Event | None = None,
    trips: Callable[[], int] | None = None,
) -> LoadResult:
    """Call ``call(i)`` ``rate`` times per second for ``duration`` seconds.

    ``call`` returns ``(outcome, target)``; ``trips`` reports the killswitch's trip count so
    the result can say how often it opened during the run.
    """
    if rate <= 0 or duration <= 0 or concurrency <= 0:
        raise ValueError("rate, duration and concurrency must be positive")
    result = LoadResult(target_rate=rate, duration_s=0.0)
    lock = threading.Lock()
    busy = threading.Semaphore(concurrency)
    trips_before = trips() if trips else 0
    stop = stop or threading.Event()

    def one(i: int) -> None:
        started = time.perf_counter()
        try:
            outcome, target = call(i)
        except Exception:
            outcome, target = "error", "?"
        elapsed_ms = (time.perf_counter() - started) * 1000
        with lock:
            result.outcomes[outcome] += 1
            result.per_target[target] += 1
            if outcome != "killswitch":
                result.latencies_ms.append(elapsed_ms)
        busy.release()

    start = time.perf_counter()
    interval = 1.0 / rate
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        i = 0
        while not stop.is_set():
            due = start + i * interval
            now = time.perf_counter()
            if due - start >= duration:
                break
            if due > now:
                stop.wait(due - now)
                continue
            if busy.acquire(blocking=False):
                pool.submit(one, i)
            else:
                with lock:
                    result.dropped += 1
            i += 1
    result.duration_s = time.perf_counter() - start
    if trips:
        result.killswitch_trips = trips() - trips_before
    return result
