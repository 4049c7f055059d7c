"""The molecule scenarios on podman systemd hosts (``make molecule`` runs ``pytest -m molecule``).

One scenario at a time, machine-wide (they share host names, a podman network and the 2-core
CI machine): each run holds ``/tmp/modelfleet-molecule.lock``. Each prints its wall
time; both together take about 15-20 minutes here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
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


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("scenario", ["default", "drain"])
def test_scenario(scenario: str) -> None:
    started = time.monotonic()
    log = REPO / ".cache" / f"molecule-{scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # Scenarios use fixed host names and one podman network: one run per machine at a time,
    # whichever checkout starts it.
    with open("/tmp/modelfleet-molecule.lock", "w") as lock, open(log, "w") as out:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=REPO,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.monotonic() - started
    print(f"molecule scenario {scenario}: {elapsed:.0f}s (log {log})")
    if result.returncode != 0:
        text = log.read_text()
        # The first failure explains the rest (later plays skip the hosts it failed), and the
        # tail is mostly cleanup: show both.
        first = [line[:1500] for line in text.splitlines() if line.startswith("fatal:")][:5]
        pytest.fail(
            f"molecule test -s {scenario} failed after {elapsed:.0f}s; first failures:\n"
            + "\n".join(first)
            + f"\n--- tail of {log}:\n{text[-4000:]}"
        )
