"""The running-env helper (roles/modelfleet_common/files/running-env) reads the environment of
the unit's RUNNING process: the rollout's "healthy is not upgraded" gate depends on it.

A real child process stands in for the unit's main process; a ``systemctl`` on PATH answers
``show --property MainPID --value`` with its pid (as systemd does: 0 when the unit is stopped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HELPER = (
    Path(__file__).resolve().parents[2] / "roles" / "modelfleet_common" / "files" / "running-env"
)


@pytest.fixture
def daemon() -> Iterator[subprocess.Popen[bytes]]:
    env = {"PATH": os.environ["PATH"], "MODELFLEET_BUILD": "0.1.0-abc", "EMPTY": ""}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    yield proc
    proc.kill()
    proc.wait()


def _run(tmp_path: Path, main_pid: int, *args: str) -> subprocess.CompletedProcess[str]:
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f"#!/bin/sh\necho {main_pid}\n")
    systemctl.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [sys.executable, str(HELPER), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def test_prints_the_running_process_value(tmp_path: Path, daemon: subprocess.Popen[bytes]) -> None:
    got = _run(tmp_path, daemon.pid, "config_manager", "MODELFLEET_BUILD")
    assert (got.returncode, got.stdout) == (0, "0.1.0-abc\n"), got.stderr
    # A variable set to nothing is set: it prints an empty line, not "started without".
    got = _run(tmp_path, daemon.pid, "config_manager", "EMPTY")
    assert (got.returncode, got.stdout) == (0, "\n"), got.stderr


def test_a_variable_the_process_lacks_is_exit_2(
    tmp_path: Path, daemon: subprocess.Popen[bytes]
) -> None:
    # A prefix of a name that is set is not that name.
    got = _run(tmp_path, daemon.pid, "config_manager", "MODELFLEET")
    assert got.returncode == 2 and got.stdout == ""
    assert got.stderr.strip() == f"config_manager: pid {daemon.pid} was started without MODELFLEET"


@pytest.mark.parametrize("main_pid", [0, 2**22 + 1])
def test_a_unit_with_no_running_process_is_exit_1(tmp_path: Path, main_pid: int) -> None:
    got = _run(tmp_path, main_pid, "tfserving", "MODELFLEET_BUILD")
    assert got.returncode == 1 and got.stdout == ""
    assert got.stderr.startswith("tfserving: ") and len(got.stderr.strip().splitlines()) == 1, (
        got.stderr
    )


def test_usage_is_one_line(tmp_path: Path) -> None:
    got = _run(tmp_path, 1, "tfserving")
    assert got.returncode == 2 and got.stderr == "usage: running-env UNIT VAR\n"
