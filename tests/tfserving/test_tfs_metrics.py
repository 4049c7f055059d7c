"""Reading TF Serving's request count and waiting for it to stop moving (drains)."""

from __future__ import annotations

import pytest

from modelfleet.tfserving.metrics import MetricsError, request_count, wait_idle

# What tensorflow_model_server's exporter writes (tensorflow_serving/util/prometheus_exporter.cc).
PAGE = """# TYPE :tensorflow:serving:request_count counter
:tensorflow:serving:request_count{model_name="ranker",status="OK"} 1200
:tensorflow:serving:request_count{model_name="ranker",status="NOT_FOUND"} 3
:tensorflow:serving:request_count{model_name="odd \\"name\\"",status="OK"} 7
# TYPE :tensorflow:serving:request_count_other counter
:tensorflow:serving:request_count_other{model_name="ranker"} 99
# TYPE :tensorflow:serving:request_latency histogram
:tensorflow:serving:request_latency_count{model_name="ranker",API="Predict",entrypoint="GRPC"} 1200
"""


def test_request_count_sums_the_family_only() -> None:
    assert request_count(PAGE) == 1210
    assert request_count(PAGE, model="ranker") == 1203
    assert request_count(PAGE, status="OK") == 1207
    assert request_count(PAGE, model='odd "name"') == 7
    assert request_count("") == 0


class Fake:
    def __init__(self, counts: list[int | None]) -> None:
        self.counts = counts
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def read(self) -> int:
        value = self.counts[min(int(self.now * 2), len(self.counts) - 1)]
        if value is None:
            raise MetricsError("http://node:8501/monitoring/prometheus/metrics: refused")
        return value


def test_idle_once_the_count_stops_moving() -> None:
    fake = Fake([10, 20, 30, 40, 40, 40, 40, 40, 40, 40])  # moves for 1.5 s, then steady
    result = wait_idle(fake.read, quiet=2.0, timeout=30, clock=fake.clock, sleep=fake.sleep)
    assert result.idle and result.count == 40 and result.moved == 30
    assert 3.0 <= result.waited_s <= 4.0
    assert "idle" in result.describe()


def test_not_idle_at_the_deadline() -> None:
    fake = Fake(list(range(0, 1000, 10)))
    result = wait_idle(fake.read, quiet=2.0, timeout=5, clock=fake.clock, sleep=fake.sleep)
    assert not result.idle and result.last_rate == pytest.approx(20.0)
    assert "NOT idle after 5.0s" in result.describe()


def test_an_unreadable_server_is_never_idle() -> None:
    fake = Fake([None])
    result = wait_idle(fake.read, quiet=1.0, timeout=3, clock=fake.clock, sleep=fake.sleep)
    assert not result.idle and "refused" in result.error


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        wait_idle(lambda: 0, quiet=0, timeout=1)
