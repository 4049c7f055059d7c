"""Check mode end to end, without molecule: ``--check --diff`` tells what would change and
changes nothing.

* build_wheelhouse.yml on the controller (it failed on ``from_json`` of an empty string);
* site.yml against a bare host: a throwaway podman container of the molecule image, under a
  name of its own (no molecule lock needed), as master, DNS server and serving node at once.
  The run must pass, report changes, and leave the host as bare as it was. It needs the image
  and takes 5-11 minutes on 2 cores (every task is a ``podman exec``), so it runs under
  ``make soak``, not in ``make test``: CI's molecule tier already runs ``site.yml --check
  --diff`` on the converged fleet (molecule/default/production.yml, 0 changes), and the time
  of ``make test`` is the budget this one did not fit in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.ansible.test_molecule import molecule_image

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(REPO / "containers" / "containers.conf")
    env.setdefault("ANSIBLE_LOCAL_TEMP", str(REPO / ".cache" / "ansible-tmp"))
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def _playbook(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _recap(out: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as {host: {ok: n, changed: n, failed: n, ...}}."""
    recap: dict[str, dict[str, int]] = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", out, re.MULTILINE):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return recap


@pytest.mark.slow
def test_build_wheelhouse_check_mode_tells_what_would_change() -> None:
    result = _playbook("playbooks/build_wheelhouse.yml", "--check", "--diff", timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert _recap(out)["localhost"]["failed"] == 0


@pytest.fixture
def bare_host(tmp_path: Path) -> Iterator[str]:
    """A fresh systemd host of the molecule image, removed afterwards."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = _env()
    subprocess.run([str(REPO / "molecule" / "image" / "build.sh")], env=env, check=True)
    image = molecule_image()
    name = f"mf-check-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--hostname", name, "--privileged",
         "--systemd", "always", image, "/lib/systemd/systemd"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    try:
        subprocess.run(
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
            env=env, check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        yield name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], env=env, check=False,
                       capture_output=True)  # fmt: skip


def _inventory(tmp_path: Path, host: str) -> Path:
    molecule_vars = yaml.safe_load(
        (REPO / "inventory" / "molecule" / "group_vars" / "all.yml").read_text()
    )
    inventory = {
        "all": {
            "vars": {
                **molecule_vars,
                "ansible_connection": "containers.podman.podman",
                "ansible_python_interpreter": "/usr/bin/python3",
                "modelfleet_build_wheelhouse": False,
            },
            "children": {
                "master": {"hosts": {host: None}},
                "dns": {"hosts": {host: None}},
                "tfserving_nodes": {
                    "children": {"zone1": {"hosts": {host: {"modelfleet_common_zone": "zone1"}}}}
                },
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_site_check_mode_on_a_bare_host_changes_nothing(bare_host: str, tmp_path: Path) -> None:
    built = _playbook("playbooks/build_wheelhouse.yml", timeout=900)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    inventory = _inventory(tmp_path, bare_host)
    result = _playbook("-i", str(inventory), "playbooks/site.yml", "--check", "--diff")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    recap = _recap(out)[bare_host]
    assert recap["failed"] == 0 and recap["unreachable"] == 0, out[-6000:]
    assert recap["changed"] > 10, "a bare host must need changes"
    # The diff shows what would be written, e.g. TF Serving's unit, as its own user.
    assert "tfserving.service.j2" in out and "+User=tfserving" in out, out[-6000:]
    # ... and nothing was: no venv, no units, no account.
    script = (
        "ls /opt/modelfleet /etc/systemd/system/tfserving.service 2>&1;"
        " getent passwd tfserving modelfleet"
    )
    probe = subprocess.run(
        ["podman", "exec", bare_host, "sh", "-c", script],
        env=_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "No such file" in probe.stdout and probe.stdout.count("No such file") == 2, probe.stdout
    assert "tfserving:" not in probe.stdout and "modelfleet:" not in probe.stdout, probe.stdout
