"""The dev server behaves like tensorflow_model_server where drains and clients depend on it:
SIGTERM ends it at once, ``--grpc_channel_arguments`` caps connection age (GOAWAY), and
``--monitoring_config_file`` serves TF Serving's request count on the REST port."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc
import pytest
import requests

from modelfleet.devserver.metrics import REQUEST_COUNT, ServingMetrics, parse_monitoring_config
from modelfleet.devserver.server import parse_channel_arguments
from modelfleet.tfserving import TFServingClient, TFServingError
from modelfleet.tfserving.metrics import request_count
from tests.support.helpers import free_port, wait_until
from tests.support.savedmodels import (
    DevServerProcess,
    install_version,
    model_library,
    requires_tensorflow,
)

MONITORING = 'prometheus_config {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n'


def test_channel_arguments_parse_like_tf_serving() -> None:
    assert parse_channel_arguments(
        "grpc.max_connection_age_ms=30000, grpc.max_connection_age_grace_ms=5000,grpc.x=abc"
    ) == [
        ("grpc.max_connection_age_ms", 30000),
        ("grpc.max_connection_age_grace_ms", 5000),
        ("grpc.x", "abc"),
    ]
    assert parse_channel_arguments("") == []
    assert parse_channel_arguments("a=99999999999") == [("a", "99999999999")]  # not an int32
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_channel_arguments("grpc.max_connection_age_ms")


def test_monitoring_config_parses_like_tf_serving() -> None:
    assert parse_monitoring_config(MONITORING) == (True, "/monitoring/prometheus/metrics")
    assert parse_monitoring_config("prometheus_config { enable: true }") == (
        True,
        "/monitoring/prometheus/metrics",
    )
    assert parse_monitoring_config("") == (False, "/monitoring/prometheus/metrics")
    for bad in (
        "prometheus_config { enabled: true }",
        "nonsense",
        'prometheus_config { path: "x" }',
    ):
        with pytest.raises(ValueError):
            parse_monitoring_config(bad)


def test_metrics_page_has_tf_servings_names_and_format() -> None:
    metrics = ServingMetrics()
    metrics.record("ranker", "OK", api="Predict", entrypoint="GRPC", seconds=0.002)
    metrics.record("ranker", "OK", api="Predict", entrypoint="GRPC", seconds=0.003)
    metrics.record("ranker", "NOT_FOUND", api="Predict", entrypoint="GRPC", seconds=0.0)
    page = metrics.render()
    assert f"# TYPE {REQUEST_COUNT} counter\n" in page
    assert f'{REQUEST_COUNT}{{model_name="ranker",status="OK"}} 2\n' in page
    assert f'{REQUEST_COUNT}{{model_name="ranker",status="NOT_FOUND"}} 1\n' in page
    assert "_total" not in page and "# HELP" not in page
    assert request_count(page) == 3
    assert request_count(page, status="OK") == 2
    assert (
        ':tensorflow:serving:request_latency_count{model_name="ranker",API="Predict",'
        'entrypoint="GRPC"} 2' in page
    )


def _config(models: Path) -> str:
    return (
        'model_config_list { config { name: "linear" base_path: "%s" model_platform: '
        '"tensorflow" model_version_policy { specific { versions: 1 } } } }\n' % (models / "linear")
    )


@pytest.fixture
def served_model(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    library = model_library(Path(request.config.cache.mkdir("modelfleet-savedmodels")))
    install_version(library, "linear_2x1", tmp_path / "models", "linear", 1)
    config = tmp_path / "models.config"
    config.write_text(_config(tmp_path / "models"))
    (tmp_path / "monitoring.config").write_text(MONITORING)
    return config


@pytest.mark.slow
@requires_tensorflow
def test_request_count_on_the_metrics_page(served_model: Path) -> None:
    rest = free_port()
    server = DevServerProcess(
        free_port(),
        served_model,
        rest_port=rest,
        extra=["--monitoring_config_file", str(served_model.parent / "monitoring.config")],
    ).start()
    url = f"http://127.0.0.1:{rest}/monitoring/prometheus/metrics"
    try:
        wait_until(lambda: requests.get(url, timeout=2).ok, 30, what="metrics page")
        with TFServingClient(server.target, timeout=10) as client:
            for _ in range(5):
                client.predict("linear", {"x": [1.0]})
            for _ in range(3):  # the config manager's and the healthcheck's calls: not counted
                client.status("linear")
            with pytest.raises(TFServingError):
                client.predict("nosuchmodel", {"x": [1.0]})
        page = requests.get(url, timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/plain"
        assert request_count(page.text, status="OK") == 5
        assert request_count(page.text, model="nosuchmodel", status="NOT_FOUND") == 1
        requests.post(
            f"http://127.0.0.1:{rest}/v1/models/linear:predict",
            json={"instances": [1.0]},
            timeout=10,
        ).raise_for_status()
        assert request_count(requests.get(url, timeout=5).text, model="linear") == 6
    finally:
        server.stop()


@pytest.mark.slow
def test_sigterm_ends_the_server_at_once_unless_asked_to_be_graceful(tmp_path: Path) -> None:
    config = tmp_path / "models.config"
    config.write_text("model_config_list {\n}\n")
    abrupt = DevServerProcess(free_port(), config, mode="no-tensorflow").start()
    assert abrupt.proc is not None
    started = time.monotonic()
    abrupt.proc.send_signal(signal.SIGTERM)
    assert abrupt.proc.wait(timeout=10) == -signal.SIGTERM  # killed by the signal itself
    assert time.monotonic() - started < 2.0

    graceful = DevServerProcess(
        free_port(), config, mode="no-tensorflow", extra=["--graceful-stop", "1"]
    ).start()
    assert graceful.proc is not None
    graceful.proc.send_signal(signal.SIGTERM)
    assert graceful.proc.wait(timeout=15) == 0


@pytest.mark.slow
def test_max_connection_age_sends_clients_a_goaway(tmp_path: Path) -> None:
    """A connection lives ``max_connection_age``; then the server says GOAWAY and the client's
    channel goes IDLE (it reconnects, and re-resolves DNS, on the next call)."""
    config = tmp_path / "models.config"
    config.write_text("model_config_list {\n}\n")
    args = "grpc.max_connection_age_ms=1500,grpc.max_connection_age_grace_ms=500"
    server = DevServerProcess(
        free_port(), config, mode="no-tensorflow", extra=["--grpc_channel_arguments", args]
    ).start()
    states: list[tuple[float, grpc.ChannelConnectivity]] = []
    channel = grpc.insecure_channel(server.target)
    try:
        channel.subscribe(lambda s: states.append((time.monotonic(), s)), try_to_connect=True)
        grpc.channel_ready_future(channel).result(timeout=10)
        ready_at = time.monotonic()
        wait_until(
            lambda: any(s == grpc.ChannelConnectivity.IDLE and t > ready_at for t, s in states),
            timeout=10,
            what="GOAWAY (channel IDLE) after the connection age",
        )
        idle_at = next(t for t, s in states if s == grpc.ChannelConnectivity.IDLE and t > ready_at)
        assert 1.0 <= idle_at - ready_at <= 4.0  # 1.5 s, jittered by gRPC (±10 %)
    finally:
        channel.close()
        server.stop()


@pytest.mark.slow
def test_probe_and_wait_idle_commands(tmp_path: Path) -> None:
    """The healthcheck (`modelfleet tfserving probe`) and the drain gate (`wait-idle`)."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelfleet", "tfserving", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    dead = run("probe", "--target", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert dead.returncode == 1 and "NOT ANSWERING" in dead.stdout
    config = tmp_path / "models.config"
    config.write_text("model_config_list {\n}\n")
    (tmp_path / "monitoring.config").write_text(MONITORING)
    rest = free_port()
    server = DevServerProcess(
        free_port(),
        config,
        mode="no-tensorflow",
        rest_port=rest,
        extra=["--monitoring_config_file", str(tmp_path / "monitoring.config")],
    ).start()
    try:
        alive = run("probe", "--target", server.target)
        assert alive.returncode == 0 and "alive" in alive.stdout
        url = f"http://127.0.0.1:{rest}/monitoring/prometheus/metrics"
        wait_until(lambda: requests.get(url, timeout=2).ok, 30, what="metrics page")
        idle = run("wait-idle", "--url", url, "--quiet", "1", "--timeout", "20", "--json")
        assert idle.returncode == 0, idle.stdout + idle.stderr
        assert '"idle": true' in idle.stdout
    finally:
        server.stop()
    gone = run("wait-idle", "--url", url, "--quiet", "1", "--timeout", "2")
    assert gone.returncode == 1 and "NOT idle" in gone.stdout  # unreadable is never idle
    bad = run("wait-idle", "--url", "file:///etc/passwd")
    assert bad.returncode == 2
