"""The load generator's scheduling and statistics, against in-process calls."""

from __future__ import annotations

import threading
import time

import pytest

from modelfleet.loadgen import resolve_targets, run_load
from modelfleet.loadgen.engine import percentile


def test_percentile_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) == 0.0


def test_rate_and_outcomes_are_counted() -> None:
    def call(i: int) -> tuple[str, str]:
        return ("ok" if i % 4 else "error"), f"t{i % 2}"

    result = run_load(call, rate=200, duration=0.5, concurrency=4)
    data = result.to_dict()
    assert 90 <= data["sent"] <= 101
    assert data["outcomes"]["error"] == pytest.approx(data["sent"] / 4, abs=1)
    assert set(data["per_target"]) == {"t0", "t1"}
    assert 70 <= data["success_pct"] <= 80


def test_busy_workers_drop_instead_of_slowing_the_schedule() -> None:
    release = threading.Event()

    def call(i: int) -> tuple[str, str]:
        release.wait(2)
        return "ok", "t"

    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.monotonic()
    result = run_load(call, rate=100, duration=0.25, concurrency=2)
    timer.cancel()
    assert result.dropped > 0
    assert result.outcomes["ok"] == 2
    assert time.monotonic() - started < 3


def test_killswitch_trips_are_reported() -> None:
    trips = iter(range(100))
    result = run_load(
        lambda i: ("killswitch", "t"), rate=50, duration=0.1, trips=lambda: next(trips)
    )
    assert result.killswitch_trips == 1
    assert result.latencies_ms == []


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        run_load(lambda i: ("ok", "t"), rate=0, duration=1)


def test_resolve_targets() -> None:
    assert resolve_targets("127.0.0.1") == ["127.0.0.1:8500"]
    assert resolve_targets("127.0.0.2:9000,127.0.0.1:9000") == ["127.0.0.1:9000", "127.0.0.2:9000"]
    with pytest.raises(ValueError):
        resolve_targets("localhost:http")


def test_channel_spec_keeps_one_name_a_name() -> None:
    """One name is dialled as a name (gRPC re-resolves it: drains and undrains move calls); a
    list is resolved once into addresses (one gRPC channel takes one name)."""
    from modelfleet.loadgen import channel_spec
    from modelfleet.tfserving.channel import grpc_target

    assert (
        channel_spec("logginrec.mlmodels.icfsys.com:8500") == "logginrec.mlmodels.icfsys.com:8500"
    )
    assert grpc_target(channel_spec("localhost:9000")) == "dns:///localhost:9000"
    assert channel_spec("localhost:9000,127.0.0.2:9000") == "127.0.0.1:9000,127.0.0.2:9000"
    assert grpc_target(channel_spec("localhost:9000,127.0.0.2:9000")) == (
        "ipv4:127.0.0.1:9000,127.0.0.2:9000"
    )
    uri = "dns://127.0.0.53:5353/logginrec.localfleet:8500"
    assert channel_spec(uri) == uri and resolve_targets(uri) == [uri]
