"""`make demo`'s script end to end: `modelfleet localfleet demo --once` must succeed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tensorflow


def test_demo_once_publishes_predicts_promotes(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelfleet",
            "localfleet",
            "demo",
            "--once",
            "--dir",
            str(tmp_path / "fleet"),
            "--nodes",
            "2",
            "--master-port",
            "8079",
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # The right numbers from real SavedModels: v1 is y = 2x + 1, v2 is y = 3x + 1.
    assert out.count("y=[3.0, 5.0, 7.0] (version 1)") == 2, out
    assert out.count("y=[4.0, 7.0, 10.0] (version 2)") == 2, out
    assert "triage: healthy" in out
    assert "stopping the fleet" in out
    # Everything stopped: no process of the fleet is left behind.
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelfleet",
            "localfleet",
            "status",
            "--dir",
            str(tmp_path / "fleet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 1
    assert "up" not in status.stdout.split()


def test_a_second_demo_starts_from_an_empty_bucket(tmp_path: Path) -> None:
    """`make demo` twice: the second run must not find the first run's model versions (it used
    to stop with "linear/1 already exists"), and a directory that is not a fleet's is left
    alone."""
    from modelfleet.localfleet.demo import _forget_previous_run

    fleet = tmp_path / "fleet"
    for sub in ("bucket/linear/1", "nodes/node1/models", "master", "logs", "work", "tokens"):
        (fleet / sub).mkdir(parents=True)
    (fleet / "fleet.json").write_text("{}")
    (fleet / "tokens" / "admin.token").write_text("t\n")
    _forget_previous_run(fleet)
    assert sorted(p.name for p in fleet.iterdir()) == ["tokens"]

    other = tmp_path / "not-a-fleet"
    (other / "bucket" / "precious").mkdir(parents=True)
    _forget_previous_run(other)
    assert (other / "bucket" / "precious").is_dir()
