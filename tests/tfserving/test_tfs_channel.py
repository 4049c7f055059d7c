"""The caller's channel: gRPC's round_robin over every address, a retry of UNAVAILABLE on
another node, a 600 ms connect timeout per attempt — against real in-process gRPC servers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from modelfleet.tfserving import TFServingClient, TFServingError, make_tensor
from modelfleet.tfserving.channel import ChannelPolicy, channel_options, grpc_target
from modelfleet.tfserving.proto import serving_pb2, serving_pb2_grpc


class Node(serving_pb2_grpc.PredictionServiceServicer):
    """A Predict servicer that counts its calls and fails with a chosen code on demand."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: grpc.StatusCode | None = None

    def Predict(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.fail is not None:
            context.abort(self.fail, "failing on demand")
        response = serving_pb2.PredictResponse()
        response.outputs["y"].CopyFrom(make_tensor([1.0]))
        return response


@pytest.fixture
def nodes() -> Iterator[list[tuple[Node, grpc.Server, str]]]:
    started = []
    for _ in range(3):
        node = Node()
        server = grpc.server(futures.ThreadPoolExecutor(4), options=[("grpc.so_reuseport", 0)])
        serving_pb2_grpc.add_PredictionServiceServicer_to_server(node, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        started.append((node, server, f"127.0.0.1:{port}"))
    yield started
    for _, server, _ in started:
        server.stop(0)


def test_grpc_target_forms() -> None:
    assert (
        grpc_target("logginrec.mlmodels.icfsys.com") == "dns:///logginrec.mlmodels.icfsys.com:8500"
    )
    assert grpc_target("name:9000") == "dns:///name:9000"
    assert grpc_target("10.0.0.1:8500,10.0.0.2") == "ipv4:10.0.0.1:8500,10.0.0.2:8500"
    assert grpc_target("[::1]:8500,[::2]:8500") == "ipv6:[::1]:8500,[::2]:8500"
    assert grpc_target("dns://10.0.0.53/name:8500") == "dns://10.0.0.53/name:8500"
    for bad in ("", "name:http", "a:1,b:2", "10.0.0.1:1,[::1]:2", "name:70000"):
        with pytest.raises(ValueError):
            grpc_target(bad)


def test_service_config_balances_retries_and_throttles() -> None:
    options = dict(channel_options(ChannelPolicy(retry_attempts=4)))
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    method = config["methodConfig"][0]
    assert method["name"] == [{"service": "tensorflow.serving.PredictionService"}]
    assert method["retryPolicy"]["maxAttempts"] == 4
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert config["retryThrottling"]["maxTokens"] > 0
    assert options["grpc.min_reconnect_backoff_ms"] == 600  # the RUNBOOK's connect timeout
    assert options["grpc.keepalive_permit_without_calls"] == 0
    no_retry = json.loads(
        dict(channel_options(ChannelPolicy(retry_attempts=1)))["grpc.service_config"]
    )
    assert "methodConfig" not in no_retry
    with pytest.raises(ValueError):
        ChannelPolicy(retry_attempts=6)


def test_round_robin_spreads_calls_over_every_address(nodes) -> None:  # type: ignore[no-untyped-def]
    client = TFServingClient(",".join(t for _, _, t in nodes), timeout=2.0)
    try:
        for _ in range(90):
            client.predict("m", {"x": [1.0]})
    finally:
        client.close()
    calls = [node.calls for node, _, _ in nodes]
    assert sum(calls) == 90
    assert min(calls) >= 20, calls  # round robin, not pick-first


def test_unavailable_is_retried_on_another_node(nodes) -> None:  # type: ignore[no-untyped-def]
    sick = nodes[0][0]
    sick.fail = grpc.StatusCode.UNAVAILABLE
    client = TFServingClient(",".join(t for _, _, t in nodes), timeout=2.0)
    try:
        for _ in range(60):
            client.predict("m", {"x": [1.0]})  # never raises: the retry goes elsewhere
    finally:
        client.close()
    assert sick.calls > 0
    assert nodes[1][0].calls + nodes[2][0].calls == 60


def test_other_errors_are_not_retried(nodes) -> None:  # type: ignore[no-untyped-def]
    for node, _, _ in nodes:
        node.fail = grpc.StatusCode.INVALID_ARGUMENT
    client = TFServingClient(",".join(t for _, _, t in nodes), timeout=2.0)
    try:
        with pytest.raises(TFServingError) as info:
            client.predict("m", {"x": [1.0]})
    finally:
        client.close()
    assert info.value.code == "INVALID_ARGUMENT"
    assert sum(node.calls for node, _, _ in nodes) == 1


def test_a_node_stopping_costs_no_call(nodes) -> None:  # type: ignore[no-untyped-def]
    client = TFServingClient(",".join(t for _, _, t in nodes), timeout=2.0)
    failures = 0
    try:
        for i in range(150):
            if i == 50:
                nodes[0][1].stop(0)  # connections reset, calls in flight cancelled
            try:
                client.predict("m", {"x": [1.0]})
            except TFServingError:
                failures += 1
    finally:
        client.close()
    assert failures == 0


def test_a_silent_node_is_skipped_after_its_connect_timeout(nodes) -> None:  # type: ignore[no-untyped-def]
    """A peer that accepts TCP but never speaks HTTP/2 (a wedged host) never gets a call."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    targets = [f"127.0.0.1:{silent.getsockname()[1]}", nodes[0][2]]
    client = TFServingClient(",".join(targets), timeout=2.0)
    try:
        started = time.monotonic()
        for _ in range(30):
            client.predict("m", {"x": [1.0]})
        elapsed = time.monotonic() - started
    finally:
        client.close()
        silent.close()
    assert nodes[0][0].calls == 30
    assert elapsed < 3.0


def test_close_right_after_a_call_leaves_no_thread_dying(nodes, monkeypatch) -> None:
    """grpcio's connectivity thread re-polls every 0.2 s; a close() inside a poll killed it
    with "Cannot monitor channel state: Channel closed!" (a CI teardown error). Short-lived
    clients (every CLI call, every gate) close right after their call, so try many, and a
    client whose connect timed out."""
    import threading

    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(str(args.exc_value)))
    for _ in range(10):
        with TFServingClient(nodes[0][2], timeout=2.0) as client:
            client.predict("m", {"x": [1.0]})
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with (
        TFServingClient(f"127.0.0.1:{port}", connect_timeout=0.1) as unreachable,
        pytest.raises(TFServingError),
    ):
        unreachable.predict("m", {"x": [1.0]})
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(
        t.name.endswith("(_poll_connectivity)") or t.name.endswith("(_run)")
        for t in threading.enumerate()
    ):
        time.sleep(0.02)
    assert died == []
