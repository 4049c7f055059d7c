"""Fast checks of the Ansible code: syntax, ansible-lint (production profile), role docs, filters.

Run by ``make test`` (pytest, not marked molecule); a few seconds each.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(p.name for p in (REPO / "playbooks").glob("*.yml"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_LOCAL_TEMP", str(REPO / ".cache" / "ansible-tmp"))
    return env


def _run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("inventory", ["inventory/production", "inventory/molecule"])
def test_playbook_syntax(playbook: str, inventory: str) -> None:
    result = _run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", inventory, f"playbooks/{playbook}"]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    result = _run(
        [
            str(BIN / "ansible-lint"),
            "--profile",
            "production",
            "--offline",
            "--format",
            "pep8",
            "playbooks",
            "roles",
            "molecule",
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_role_docs_in_step_with_defaults() -> None:
    """defaults/main.yml, meta/argument_specs.yml and the README tables say the same."""
    result = _run([sys.executable, "tests/ansible/role_docs.py"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()))
def test_role_layout(role: str) -> None:
    """Each role: documented defaults, argument specs, README, dispatching tasks/main.yml."""
    path = REPO / "roles" / role
    for name in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "README.md"):
        assert (path / name).is_file(), f"{role} lacks {name}"
    main = (path / "tasks" / "main.yml").read_text()
    assert "ansible.builtin.import_tasks: preflight.yml" in main
    for template in (path / "templates").glob("*.j2") if (path / "templates").is_dir() else []:
        if template.name.startswith("client.hosts"):
            continue  # a block inside /etc/hosts, marked by blockinfile instead
        assert "ansible_managed | comment" in template.read_text(), template


def _filters():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "modelfleet_filters", REPO / "playbooks" / "filter_plugins" / "modelfleet.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pending_versions_filter() -> None:
    pending = _filters().modelfleet_pending_versions
    models = {
        "a": {"desired": [2], "loaded": [{"version": 1, "state": "AVAILABLE"},
                                         {"version": 2, "state": "LOADING"}]},
        "b": {"desired": [5], "loaded": [{"version": 5, "state": "AVAILABLE"}]},
        "c": {"desired": [], "loaded": []},
    }  # fmt: skip
    assert pending(models) == ["a/2"]
    models["a"]["loaded"][1]["state"] = "AVAILABLE"
    assert pending(models) == []
    assert pending(None) != []


def test_unhealthy_hosts_filter() -> None:
    from dataclasses import replace

    from modelfleet.contracts.cluster import HostStatus, Problem, Restarts, TFServingView
    from modelfleet.contracts.schema import to_json

    unhealthy = _filters().modelfleet_unhealthy_hosts
    ok = HostStatus(
        hostname="n1",
        zone="z1",
        maintenance=False,
        state="healthy",
        services={},
        tfserving=TFServingView(True),
        models={},
        serving={},
        problems=(),
        restarts=Restarts(),
    )
    down = replace(
        ok,
        hostname="n2",
        state="down",
        tfserving=TFServingView(False, "refused"),
        problems=(Problem("tfserving_unreachable", "tf down", "config_manager"),),
    )
    status = {
        "hosts": [to_json(h) for h in (ok, down, replace(ok, hostname="n3", maintenance=True))]
    }
    assert unhealthy(status, ["n1"]) == []
    assert unhealthy(status, ["n2"]) == ["n2: down (tf down)"]
    assert unhealthy(status, ["n3"]) == ["n3: still in maintenance"]
    assert unhealthy(status, ["n3"], True) == []
    assert unhealthy(status, ["n4"]) == ["n4: not registered with the master"]
    # An answer that breaks its contract fails the gate, naming the field.
    status["hosts"][0]["state"] = "fine"
    (line,) = unhealthy(status, ["n1"])
    assert line.startswith("n1: status breaks its contract: hosts[0].state")
    assert unhealthy({}, ["n1"]) == ["n1: the master's cluster status has no hosts list"]
