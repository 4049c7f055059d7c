"""The molecule scenarios on podman systemd hosts (``make molecule`` runs ``pytest -m molecule``).

One scenario at a time, machine-wide (they share host names, a podman network and the 2-core
CI machine): each run holds ``/tmp/modelfleet-molecule.lock`` and is stopped (its whole process
group) before the lock is released, whatever ends the test. Each prints its wall time from
taking the lock; both together take about 30-40 minutes here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.molecule,
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


def molecule_image() -> str:
    """The hosts' image of THIS checkout's molecule/image/build.sh: it tags every build with
    the script's hash, so checkouts with another package list (which retag the shared
    ``:bookworm``) never swap the image under a scenario of this one."""
    digest = hashlib.sha256((REPO / "molecule" / "image" / "build.sh").read_bytes()).hexdigest()
    return f"localhost/modelfleet-molecule:bookworm-{digest[:16]}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MODELFLEET_MOLECULE_HOST_IMAGE"] = molecule_image()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(REPO / "containers" / "containers.conf")
    env.pop("ANSIBLE_CONFIG", None)  # molecule writes its own, from molecule.yml
    env["PY_COLORS"] = "0"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


@pytest.fixture(scope="module", autouse=True)
def image() -> None:
    """The hosts' image, built once with debootstrap and reused (molecule/image/build.sh)."""
    subprocess.run([str(REPO / "molecule" / "image" / "build.sh")], env=_env(), check=True)


# A scenario may run this long once it holds the lock (measured on 2 cores: default 30-35 min
# with its upgrade and TF Serving .deb rollouts, drain 17-20 min; the default took 40 min with
# a rollout since removed); waiting for the lock (another checkout's run) is not counted.
RUN_DEADLINE = 3000.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a molecule run and every ansible-playbook under it (its own session)."""
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# The test's own timeout covers a long wait for the lock too; the run itself has RUN_DEADLINE.
@pytest.mark.timeout(3 * 3600)
@pytest.mark.parametrize("scenario", ["default", "drain"])
def test_scenario(scenario: str) -> None:
    log = REPO / ".cache" / f"molecule-{scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # Scenarios use fixed host names and one podman network: one run per machine at a time,
    # whichever checkout starts it. The run never outlives the lock: however this test ends
    # (deadline, pytest's timeout, Ctrl-C), molecule and its playbooks are stopped before the
    # lock is released, or the next holder's scenario would share its hosts with an orphan.
    with open("/tmp/modelfleet-molecule.lock", "w") as lock, open(log, "w") as out:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=REPO,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode: int | None = proc.wait(timeout=RUN_DEADLINE)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            _stop(proc)
    elapsed = time.monotonic() - started
    print(f"molecule scenario {scenario}: {elapsed:.0f}s (log {log})")
    if returncode is None:
        pytest.fail(
            f"molecule test -s {scenario} still ran after {RUN_DEADLINE:.0f}s: stopped (log {log})"
        )
    if returncode != 0:
        text = log.read_text()
        # The first failure explains the rest (later plays skip the hosts it failed), and the
        # tail is mostly cleanup: show both.
        first = [line[:1500] for line in text.splitlines() if line.startswith("fatal:")][:5]
        pytest.fail(
            f"molecule test -s {scenario} failed after {elapsed:.0f}s; first failures:\n"
            + "\n".join(first)
            + f"\n--- tail of {log}:\n{text[-4000:]}"
        )
