"""Remote requests per idle poll with 50 models (goal: at most 1 per poll interval).

The baseline is what TF Serving does when pointed at gs:// directly: one listing per model
per poll. The puller's idle pass is one metadata read of desired.json, whatever the number
of models; the figure is read from its own ``modelfleet_puller_remote_requests_total``.

    python -m bench.remote_requests [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.pull import emulator, new_bucket
from modelfleet.puller import PullerDaemon, PullerSettings
from modelfleet.store import open_store, publish

MODELS = 50


def total_requests(daemon: PullerDaemon) -> float:
    total = 0.0
    for metric in daemon.registry.collect():
        if metric.name == "modelfleet_puller_remote_requests":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def run(quick: bool = False) -> list[dict[str, Any]]:
    polls = 20 if quick else 100
    with tempfile.TemporaryDirectory(prefix="bench-req-") as tmp, emulator():
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        (src / "saved_model.pb").write_bytes(b"pb" * 100)
        url = new_bucket() + "/models"
        store = open_store(url)
        for i in range(MODELS):
            publish(store, src, f"model{i:02d}", 1)
        (work / "local").mkdir()
        settings = PullerSettings.from_env(
            env={
                "LOCAL_MODEL_DIRECTORY": str(work / "local"),
                "REMOTE_MODEL_DIRECTORY": url,
                "MODELFLEET_STATE_DIR": str(work / "state"),
                "MODELFLEET_DISK_RESERVE_MB": "0",
                "MODELFLEET_FSYNC": "false",
            }
        )
        daemon = PullerDaemon(settings)
        daemon.recover()
        daemon.settle()
        assert sum(len(v) for v in daemon.installed.values()) == MODELS
        # Baseline: one listing per model per poll, the way TF Serving watches gs:// itself.
        counts: dict[str, int] = {}
        base_store = open_store(
            url, on_request=lambda op, n: counts.update(n=counts.get("n", 0) + n)
        )
        start = time.perf_counter()
        for _ in range(polls):
            for i in range(MODELS):
                base_store.list_dirs(f"model{i:02d}")
        base_seconds = time.perf_counter() - start
        baseline = counts["n"] / polls
        before = total_requests(daemon)
        start = time.perf_counter()
        for _ in range(polls):
            daemon.sync_once()
        ours_seconds = time.perf_counter() - start
        per_poll = (total_requests(daemon) - before) / polls
    return [
        {
            "name": f"remote_requests_per_idle_poll_{MODELS}_models",
            "value": per_poll,
            "unit": "requests/poll",
            "baseline": baseline,
            "ratio": round(baseline / per_poll, 1) if per_poll else None,
            "goal": "<= 1 per poll",
            "pass": per_poll <= 1,
        },
        {
            "name": "remote_requests_per_idle_hour_at_10s",
            "value": per_poll * 360,
            "unit": "requests/hour",
            "baseline": baseline * 360,
            "ratio": round(baseline / per_poll, 1) if per_poll else None,
            "goal": "<= 360",
            "pass": per_poll * 360 <= 360,
        },
        {
            "name": "idle_poll_latency",
            "value": round(ours_seconds / polls * 1000, 2),
            "unit": "ms/poll",
            "baseline": round(base_seconds / polls * 1000, 2),
            "ratio": round(base_seconds / ours_seconds, 1),
            "goal": "-",
            "pass": True,
        },
    ]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
