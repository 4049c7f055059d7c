"""`modelfleet loadtest` against a real dev server serving a real SavedModel, and against
a dead target (the killswitch trips and the exit code says the run failed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import free_port
from tests.support.savedmodels import (
    DevServerProcess,
    install_version,
    model_library,
    requires_tensorflow,
)

# Real processes (gunicorn, dev servers, browsers): kept out of `make test-fast`.
pytestmark = pytest.mark.slow

MODELFLEET = [sys.executable, "-m", "modelfleet"]


def loadtest(*args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [*MODELFLEET, "loadtest", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)


@requires_tensorflow
def test_loadtest_against_a_serving_dev_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    library = model_library(Path(request.config.cache.mkdir("modelfleet-savedmodels")))
    models = tmp_path / "models"
    install_version(library, "linear_2x1", models, "linear", 1)
    config = tmp_path / "models.config"
    config.write_text(
        'model_config_list { config { name: "linear" base_path: "%s" model_platform: '
        '"tensorflow" model_version_policy { specific { versions: 1 } } } }\n' % (models / "linear")
    )
    server = DevServerProcess(free_port(), config).start()
    try:
        code, data = loadtest(
            "--target",
            server.target,
            "--model",
            "linear",
            "--input",
            "x=1,2,3",
            "--rate",
            "50",
            "--duration",
            "2",
        )
    finally:
        server.stop()
    assert code == 0, data
    assert data["success_pct"] == 100.0 and data["outcomes"] == {"ok": data["sent"]}
    assert 80 <= data["sent"] <= 101
    assert data["killswitch_trips"] == 0
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p99"]


def test_loadtest_against_a_dead_target_trips_the_killswitch() -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    code, data = loadtest(
        "--target",
        dead,
        "--model",
        "linear",
        "--rate",
        "50",
        "--duration",
        "2",
        "--open-seconds",
        "60",
    )
    assert code == 1
    assert data["killswitch_trips"] == 1
    # Calls already in flight wait out their 600 ms connect timeout (RUNBOOK), then the
    # killswitch blocks everything else for the rest of the run.
    assert data["outcomes"]["killswitch"] >= 0.4 * data["sent"], data["outcomes"]
    assert data["success_pct"] == 0.0


def test_loadtest_refuses_a_bad_model_name() -> None:
    proc = subprocess.run(
        [*MODELFLEET, "loadtest", "--model", "../etc", "--target", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "invalid model name" in proc.stderr
