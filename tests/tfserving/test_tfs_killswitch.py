"""The killswitch: opens above 25 % failures, blocks for open_seconds, one probe decides.

The state machine is driven with a fake clock; the client runs against a real gRPC server
on 127.0.0.1 whose Predict fails on demand.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from prometheus_client import CollectorRegistry

from modelfleet.tfserving import (
    KillSwitch,
    KillSwitchClient,
    KillSwitchOpen,
    TFServingClient,
    TFServingError,
    make_tensor,
    tensor_to_list,
)
from modelfleet.tfserving.channel import ChannelPolicy
from modelfleet.tfserving.proto import serving_pb2, serving_pb2_grpc


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FlakyPrediction(serving_pb2_grpc.PredictionServiceServicer):
    def __init__(self) -> None:
        self.fail = False
        self.calls = 0

    def Predict(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "failing on demand")
        response = serving_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.outputs["y"].CopyFrom(
            make_tensor([2.0 * x + 1 for x in request.inputs["x"].float_val])
        )
        return response


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyPrediction, str]]:
    servicer = FlakyPrediction()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    serving_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(0).wait()


def test_state_machine_opens_blocks_probes_closes() -> None:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []
    ks = KillSwitch(min_requests=8, clock=clock, on_change=lambda a, b: changes.append((a, b)))
    for _ in range(6):
        assert ks.allow()
        ks.record(True)
    for _ in range(2):  # 2 of 8 = 25 %: not *more* than 25 %
        ks.record(False)
    assert ks.state == "closed"
    ks.record(False)  # 3 of 9 > 25 %
    assert ks.state == "open"
    assert not ks.allow()
    clock.advance(59.9)
    assert not ks.allow() and ks.retry_in() == pytest.approx(0.1, abs=1e-6)
    clock.advance(0.2)
    assert ks.state == "half_open"
    assert ks.allow()  # the probe
    assert not ks.allow()  # only one probe at a time
    ks.record(False)  # probe failed: open again at once for another 60 s
    assert ks.state == "open"
    clock.advance(60)
    assert ks.allow()
    ks.record(True)
    assert ks.state == "closed"
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_sliding_window_forgets_old_failures() -> None:
    clock = FakeClock()
    ks = KillSwitch(min_requests=4, window_seconds=10, clock=clock)
    for _ in range(3):
        ks.record(False)
    clock.advance(11)
    for _ in range(4):
        ks.record(True)
    assert ks.state == "closed"


def test_client_against_failing_server(flaky: tuple[FlakyPrediction, str]) -> None:
    servicer, target = flaky
    clock = FakeClock()
    registry = CollectorRegistry()
    # One server: gRPC retries a failed Predict (UNAVAILABLE) on the same server, so a call
    # that fails reaches it ATTEMPTS times; the killswitch still sees one failed call.
    attempts = ChannelPolicy().retry_attempts
    client = KillSwitchClient(target, min_requests=10, clock=clock, registry=registry)
    try:
        for _ in range(10):
            out = client.predict("m", {"x": [1.0, 2.0]})
            assert tensor_to_list(out.outputs["y"]) == [3.0, 5.0]
        servicer.fail = True
        errors = 0
        while client.state == "closed":
            with pytest.raises(TFServingError) as info:
                client.predict("m", {"x": [1.0]})
            assert not isinstance(info.value, KillSwitchOpen)
            errors += 1
        assert errors == 4  # 4 of 14 > 25 %
        sent = servicer.calls
        for _ in range(50):  # blocked: nothing reaches the server
            with pytest.raises(KillSwitchOpen):
                client.predict("m", {"x": [1.0]})
        assert servicer.calls == sent
        clock.advance(60)
        with pytest.raises(TFServingError):  # the probe goes out and fails
            client.predict("m", {"x": [1.0]})
        assert client.state == "open" and servicer.calls == sent + attempts
        servicer.fail = False
        clock.advance(60)
        client.predict("m", {"x": [1.0]})  # probe succeeds
        assert client.state == "closed"
        value = registry.get_sample_value
        labels = {"target": target}
        assert value("modelfleet_killswitch_requests_total", {**labels, "outcome": "blocked"}) == 50
        assert value("modelfleet_killswitch_requests_total", {**labels, "outcome": "ok"}) == 11
        assert value("modelfleet_killswitch_requests_total", {**labels, "outcome": "error"}) == 5
        assert value("modelfleet_killswitch_trips_total", labels) == 2
        assert value("modelfleet_killswitch_state", labels) == 0
    finally:
        client.close()


def test_connect_timeout_600ms_against_a_silent_peer() -> None:
    """A peer that accepts TCP but never speaks HTTP/2 costs 600 ms, not the request deadline."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    target = f"127.0.0.1:{sock.getsockname()[1]}"
    client = TFServingClient(target, timeout=10.0, connect_timeout=0.6)
    try:
        started = time.monotonic()
        with pytest.raises(TFServingError) as info:
            client.status("m")
        elapsed = time.monotonic() - started
        assert info.value.code == "UNAVAILABLE" and info.value.unreachable
        assert 0.5 <= elapsed < 2.0
    finally:
        client.close()
        sock.close()
