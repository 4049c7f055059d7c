"""Real processes: ``modelfleet devserver run`` (TensorFlow) + ``modelfleet configmanager run``
(gunicorn). Promote v2 under a steady Predict stream with zero failed calls; a broken v3 is
quarantined while v2 keeps serving; the dev server killed and restarted empty gets its
config back automatically, with /readyz failing meanwhile.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from modelfleet.atomic import atomic_write_json
from modelfleet.tfserving import TFServingClient, TFServingError, tensor_to_list
from tests.support.helpers import free_port, wait_until
from tests.support.savedmodels import DevServerProcess, install_version, requires_tensorflow

pytestmark = [pytest.mark.tensorflow, requires_tensorflow]


def _desired(local: Path, versions: list[int], keep: list[int]) -> None:
    (local / ".modelfleet").mkdir(exist_ok=True)
    atomic_write_json(
        local / ".modelfleet" / "desired.json",
        {
            "schema": 1,
            "models": {
                "lin": {"versions": versions, "labels": {"stable": versions[0]}, "keep": keep}
            },
        },
    )


@pytest.fixture
def fleet(tmp_path: Path, library: Path, cluster_token_file: Path) -> Iterator[dict[str, object]]:
    local = tmp_path / "models"
    local.mkdir()
    config = tmp_path / "models.config"
    grpc_port, admin_port = free_port(), free_port()
    # TF Serving's failed-load behaviour, sized for a test: 2 retries 0.5 s apart (the real
    # defaults, 5 retries a minute apart, would keep the broken version LOADING 5 minutes).
    dev = DevServerProcess(
        grpc_port,
        None,
        mode="tensorflow",
        log_path=tmp_path / "dev.log",
        extra=["--max_num_load_retries=2", "--load_retry_interval_micros=500000"],
    ).start()
    env = dict(
        os.environ,
        HOSTNAME="node1",
        LOCAL_MODEL_DIRECTORY=str(local),
        TENSORFLOW_SERVING_CONFIG_FILE=str(config),
        TENSORFLOW_SERVING_GRPC_TARGET=f"127.0.0.1:{grpc_port}",
        MODELFLEET_STATE_DIR=str(tmp_path / "state"),
        MODELFLEET_BIND=f"127.0.0.1:{admin_port}",
        MODELFLEET_CLUSTER_TOKEN_FILE=str(cluster_token_file),
        MODELFLEET_POLL_INTERVAL="0.5",
        MODELFLEET_RELOAD_TIMEOUT="60",
    )
    log = open(tmp_path / "cm.log", "wb")  # noqa: SIM115
    cm = subprocess.Popen(
        [str(Path(sys.executable).parent / "modelfleet"), "configmanager", "run"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        yield {
            "local": local,
            "config": config,
            "dev": dev,
            "cm": cm,
            "library": library,
            "admin": f"http://127.0.0.1:{admin_port}",
            "grpc": f"127.0.0.1:{grpc_port}",
            "token": cluster_token_file.read_text().strip(),
            "tmp": tmp_path,
        }
    finally:
        cm.terminate()
        try:
            cm.wait(timeout=20)
        except subprocess.TimeoutExpired:
            cm.kill()
        log.close()
        dev.stop()


def test_promote_quarantine_restart(fleet: dict) -> None:  # type: ignore[type-arg]
    local, library, admin = fleet["local"], fleet["library"], fleet["admin"]
    auth = {"Authorization": f"Bearer {fleet['token']}"}
    client = TFServingClient(fleet["grpc"], timeout=10)

    def models() -> dict:  # type: ignore[type-arg]
        return requests.get(f"{admin}/api/v1/models", headers=auth, timeout=5).json()["models"]

    def ready() -> bool:
        return requests.get(f"{admin}/readyz", timeout=5).status_code == 200

    def y(**kw: object) -> list[float]:
        return tensor_to_list(client.predict("lin", {"x": [1.0]}, **kw).outputs["y"])  # type: ignore[arg-type]

    try:
        # v1 published: y = 2x + 1
        # As the puller does: desired.json names a version before the version lands.
        _desired(local, [1], [])
        install_version(library, "linear_2x1", local, "lin", 1)
        wait_until(lambda: ready() and y() == [3.0], timeout=60, what="v1 AVAILABLE")

        # Promote v2 (y = 3x + 2) under a steady stream of Predict calls.
        results: list[object] = []
        stop = threading.Event()

        def stream() -> None:
            while not stop.is_set():
                try:
                    results.append(y(label="stable")[0])
                except TFServingError as exc:
                    results.append(exc)

        thread = threading.Thread(target=stream)
        thread.start()
        try:
            wait_until(lambda: len(results) > 20, timeout=20, what="stream running")
            _desired(local, [2], [1])
            install_version(library, "linear_3x2", local, "lin", 2)
            wait_until(
                lambda: (
                    [(lv["version"], lv["state"]) for lv in models()["lin"]["loaded"]]
                    == [(1, "END"), (2, "AVAILABLE")]
                    and 5.0 in results[-5:]
                ),
                timeout=60,
                what="v2 promoted",
            )
            mark = len(results)
            wait_until(lambda: len(results) > mark + 20, timeout=20, what="more calls")
        finally:
            stop.set()
            thread.join(10)
        failures = [r for r in results if isinstance(r, Exception)]
        assert failures == [], failures[:3]
        assert set(results) == {3.0, 5.0}
        assert (local / "lin" / "1").is_dir()  # retention: kept for rollback

        # A broken v3 is quarantined; v2 keeps serving.
        _desired(local, [3], [2])
        install_version(library, "broken_garbage", local, "lin", 3)
        wait_until(lambda: models()["lin"]["quarantined"], timeout=60, what="v3 quarantined")
        assert models()["lin"]["quarantined"][0]["version"] == 3
        assert y() == [5.0] and y(label="stable") == [5.0]
        wait_until(lambda: not (local / "lin" / "1").exists(), timeout=30, what="v1 freed")
        health = requests.get(f"{admin}/healthz", timeout=5).json()
        assert health["healthy"] is True

        # TF Serving killed, restarted without any config: readyz fails, then it is re-applied.
        dev = fleet["dev"]
        dev.stop(kill=True)
        wait_until(lambda: not ready(), timeout=30, what="readyz failing")
        body = requests.get(f"{admin}/readyz", timeout=5).json()
        assert "unreachable" in body["reason"]
        dev.start()
        wait_until(lambda: ready() and y() == [5.0], timeout=60, what="config re-applied")
        assert y(label="stable") == [5.0]
        reload = requests.post(f"{admin}/api/v1/reload", headers=auth, timeout=60).json()
        assert reload["applied"] is True and reload["error"] is None
        assert requests.get(f"{admin}/api/v1/models", timeout=5).status_code == 401
        metrics = requests.get(f"{admin}/metrics", timeout=5).text
        assert "modelfleet_configmanager_quarantined_versions 1.0" in metrics
    finally:
        client.close()
