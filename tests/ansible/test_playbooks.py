"""The drain, undrain and rollout playbooks' own logic, without hosts: deadlines sized from the
roles' settings, the capacity filter, and the refusals that must happen before anything moves."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_timing_defaults_are_the_roles_defaults() -> None:
    """tasks/timing.yml falls back to the roles' defaults; they must agree, so an inventory
    that sets nothing gets one cold-load setting, one connection age, one TTL everywhere."""
    timing = (REPO / "playbooks" / "tasks" / "timing.yml").read_text()
    defaults = {
        **yaml.safe_load((REPO / "roles" / "tfserving" / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((REPO / "roles" / "dns" / "defaults" / "main.yml").read_text()),
    }
    found = re.findall(r"\b(tfserving_[a-z_]+|dns_ttl) \| default\((\d+)\)", timing)
    assert {name for name, _ in found} >= {
        "tfserving_cold_load_timeout",
        "tfserving_max_connection_age_ms",
        "tfserving_max_connection_age_grace_ms",
        "tfserving_drain_margin",
        "tfserving_drain_quiet",
        "dns_ttl",
    }
    for name, value in found:
        assert defaults[name] == int(value), (
            f"{name}: timing.yml says {value}, the role {defaults[name]}"
        )


def _capacity():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "fleet_capacity", REPO / "playbooks" / "filter_plugins" / "fleet_capacity.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.modelfleet_serving_share


def test_serving_share_counts_like_the_drain_guard() -> None:
    from dataclasses import replace

    from modelfleet.contracts.cluster import HostStatus, Restarts, TFServingView
    from modelfleet.contracts.schema import to_json

    ok = HostStatus(
        hostname="n1",
        zone="zone1",
        maintenance=False,
        state="healthy",
        services={},
        tfserving=TFServingView(True),
        models={},
        serving={},
        problems=(),
        restarts=Restarts(),
    )
    hosts = [
        ok,
        replace(ok, hostname="n2", state="degraded"),
        replace(ok, hostname="n3", state="down", tfserving=TFServingView(False, "refused")),
        replace(ok, hostname="n4", maintenance=True),
    ]
    status = {"hosts": [to_json(h) for h in hosts]}
    share = _capacity()
    assert share(status, []) == {
        "share": 0.5,
        "serving": 2,
        "total": 4,
        "not_serving": ["n3: down", "n4: in maintenance"],
    }
    assert share(status, ["n1"])["share"] == 0.25  # n1 leaves: only n2 serves of 4
    status["hosts"][1]["state"] = "fine"  # breaks the contract: does not count as serving
    assert share(status, [])["serving"] == 1
    assert share({}, [])["share"] == 0.0


def _play(tmp_path: Path, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": sys.executable,
                    },
                    "children": {
                        "master": {"hosts": {"m": None}},
                        "dns": {"hosts": {"m": None}},
                        "tfserving_nodes": {
                            "children": {"zone1": {"hosts": {"a": None, "b": None}}}
                        },
                    },
                }
            }
        )
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_LOCAL_TEMP", str(REPO / ".cache" / "ansible-tmp"))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), f"playbooks/{playbook}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_zone_drain_refuses_limit_to_part_of_the_zone(tmp_path: Path) -> None:
    """`drain_zone.yml --limit HOST` used to skip the master and DNS plays and stop a node
    that was still in DNS; now it refuses before touching anything and names drain_node.yml."""
    result = _play(tmp_path, "drain_zone.yml", "-e", "zone=1", "--limit", "a")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "--limit leaves b of zone1 out of this run" in out
    assert "drain_node.yml -e node=HOST" in out
    assert "Read the admin token" not in out  # nothing after the refusal ran


@pytest.mark.slow
def test_a_zone_undrain_refuses_limit_to_part_of_the_zone(tmp_path: Path) -> None:
    """`undrain_zone.yml --limit HOST` would clear the zone's maintenance flag while the rest of
    the zone stays drained (those hosts would then page); it refuses and names undrain_node.yml."""
    result = _play(tmp_path, "undrain_zone.yml", "-e", "zone=1", "--limit", "b")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "--limit leaves a of zone1 out of this run" in out
    assert "undrain_node.yml -e node=HOST" in out
    assert "Read the admin token" not in out  # nothing after the refusal ran


@pytest.mark.slow
def test_a_node_drain_needs_one_node_of_the_run(tmp_path: Path) -> None:
    result = _play(tmp_path, "drain_node.yml", "-e", "node=nosuchhost")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "give one host of tfserving_nodes" in out


def _batch_play() -> dict[str, Any]:
    plays = yaml.safe_load((REPO / "playbooks" / "rollout.yml").read_text())
    return next(p for p in plays if str(p.get("name", "")).startswith("Upgrade the serving nodes"))


def _render(expr: str, variables: dict[str, Any]) -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    play_vars = {k: trust_as_template(v) if isinstance(v, str) else v
                 for k, v in _batch_play()["vars"].items()}  # fmt: skip
    templar = Templar(loader=DataLoader(), variables={**play_vars, **variables})
    return templar.template(trust_as_template(expr))


ZONES = {
    "zone1": ["a1", "a2", "a3"],
    "zone2": ["b1", "b2"],
    "zone3": ["c1", "c2", "c3", "c4"],
}
GROUPS = {**ZONES, "tfserving_nodes": [h for hosts in ZONES.values() for h in hosts]}


@pytest.mark.parametrize(
    ("extra", "batches"),
    [
        ({}, [1, 2, 2, 4]),  # the canary, the rest of zone1, then a zone per batch
        ({"rollout_canary": False}, [3, 2, 4]),
        ({"rollout_batch_size": 4}, [1, 3, 4]),  # then 4 at a time (serial repeats the last)
        ({"rollout_batch_size": 1}, [1, 1]),
        ({"rollout_zone_order": ["zone2", "zone9", "zone1"]}, [1, 1, 3]),
    ],
)
def test_rollout_batches_start_with_a_canary(extra: dict[str, Any], batches: list[int]) -> None:
    """rollout.yml's serial: one host of the first zone, the rest of it, then zone by zone."""
    serial = _batch_play()["serial"]
    assert _render(serial, {"groups": GROUPS, **extra}) == batches


def test_prestage_defaults_are_the_tfserving_roles() -> None:
    """tasks/stage_tfserving.yml runs outside the role (its dependencies would link the new venv
    live): its fallbacks must be the role's defaults, and the .deb / binary must land where the
    role installs them from (roles/tfserving/tasks/installed.yml), so the batch finds them."""
    stage = (REPO / "playbooks" / "tasks" / "stage_tfserving.yml").read_text()
    defaults = yaml.safe_load((REPO / "roles" / "tfserving" / "defaults" / "main.yml").read_text())
    found = re.findall(r"\b(tfserving_[a-z_]+) \| default\('?([^')]*)'?\)", stage)
    assert {name for name, _ in found} >= {
        "tfserving_impl",
        "tfserving_apt_package",
        "tfserving_package_cache_dir",
    }
    for name, value in found:
        if name in defaults:
            assert str(defaults[name]) == value, f"{name}: stage {value!r}, role {defaults[name]!r}"
    installed = (REPO / "roles" / "tfserving" / "tasks" / "installed.yml").read_text()
    for role_path, stage_path in (
        (
            "tfserving_deb_sha256[:16] ~ '-' ~ (tfserving_deb_file | basename)",
            "{{ tfserving_deb_sha256[:16] }}-{{ tfserving_deb_file | basename }}",
        ),
        (
            "'/tensorflow_model_server-' ~ tfserving_binary_sha256[:16]",
            "/tensorflow_model_server-{{ tfserving_binary_sha256[:16] }}",
        ),
    ):
        assert role_path in installed and stage_path in stage


def _static_role_imports(tasks: list[dict[str, Any]] | None) -> list[str]:
    """The roles a task list imports statically, blocks, rescues and always included."""
    found: list[str] = []
    for task in tasks or []:
        for key in ("ansible.builtin.import_role", "import_role"):
            if key in task:
                found.append(task[key]["name"])
        for key in ("block", "rescue", "always"):
            found += _static_role_imports(task.get(key))
    return found


def _playbook_plays() -> list[Any]:
    plays = []
    for path in sorted([*(REPO / "playbooks").glob("*.yml"), *(REPO / "molecule").glob("*/*.yml")]):
        for play in yaml.safe_load(path.read_text()) or []:
            if isinstance(play, dict) and "hosts" in play:
                where = f"{path.relative_to(REPO)}: {play.get('name', '?')}"
                plays.append(pytest.param(where, play, id=where[:80]))
    return plays


@pytest.mark.parametrize(("where", "play"), _playbook_plays())
def test_no_play_imports_a_role_twice(where: str, play: dict[str, Any]) -> None:
    """A role imported twice into one play has ONE copy of each handler, carrying the
    conditions of the last import. rollout.yml imported the node roles before the drain (for
    pre-staged rollouts) and again inside it (for pre-stage off): every restart notified before
    the drain inherited "pre-stage off" and was skipped, so a rollout linked the new venv and
    restarted nothing. The second use must be include_role (dynamic, handlers of its own)."""
    roles = [
        role
        for section in ("pre_tasks", "tasks", "post_tasks")
        for role in _static_role_imports(play.get(section))
    ] + [r if isinstance(r, str) else r.get("role", r.get("name")) for r in play.get("roles", [])]
    twice = sorted({role for role in roles if roles.count(role) > 1})
    assert not twice, f"{where} imports {twice} more than once (use include_role for the others)"


def _tasks_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every task-like mapping in a parsed playbook or task file, nested blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks_in(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from _tasks_in(value)


_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?:(?!\}\}).)*\}\}\s*$", re.DOTALL)
_TO_TEXT = re.compile(r"\|\s*(to_json|to_nice_json|to_yaml|string|join\b[^|]*|trim)\s*\}\}\s*$")


def test_assert_messages_render_to_text() -> None:
    """ansible-core 2.19 keeps a template's native type, and assert validates fail_msg and
    success_msg as text BEFORE it checks anything: `fail_msg: "{{ a_dict }}"` failed a check
    that passed (molecule default's TF Serving record check). A message that is one expression
    must end in a filter that makes text."""
    yml = [
        *REPO.glob("roles/*/tasks/*.yml"),
        *REPO.glob("roles/*/handlers/*.yml"),
        *REPO.glob("playbooks/**/*.yml"),
        *REPO.glob("molecule/**/*.yml"),
    ]
    bad = []
    for path in yml:
        for task in _tasks_in(yaml.safe_load(path.read_text())):
            args = task.get("ansible.builtin.assert") or task.get("assert")
            if not isinstance(args, dict):
                continue
            for key in ("fail_msg", "success_msg", "msg"):
                value = args.get(key)
                one = isinstance(value, str) and _ONE_EXPRESSION.match(value)
                if one and not _TO_TEXT.search(str(value)):
                    bad.append(f"{path.relative_to(REPO)}: {task.get('name')}: {key}")
    assert not bad, bad


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["linear", "mitogen_linear"])
@pytest.mark.parametrize("impl", ["deb", "binary"])
def test_a_rollout_refuses_a_supplied_package_whose_checksum_differs(
    tmp_path: Path, impl: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong (or stale) sha256 in the inventory stops the rollout at pre-stage, checked once on
    the controller: nothing is copied to any host, nothing is drained. The same under the opt-in
    Mitogen strategy (playbooks/strategy_plugins), whose block/rescue and delegation must agree."""
    # A strategy Ansible cannot find fails the run before any play ("Invalid play strategy").
    monkeypatch.setenv("ANSIBLE_STRATEGY", strategy)
    supplied = tmp_path / f"tensorflow_model_server-{impl}"
    supplied.write_bytes(b"#!/bin/sh\nexit 0\n")
    wanted = "0" * 64
    extra = {
        "rollout_components": ["tfserving"],
        "modelfleet_build_wheelhouse": False,
        "modelfleet_become": False,
        "tfserving_impl": impl,
        "tfserving_version": "2.99.2",
        f"tfserving_{impl}_file": str(supplied),
        f"tfserving_{impl}_sha256": wanted,
        "tfserving_package_cache_dir": str(tmp_path / "cache"),
    }
    result = _play(tmp_path, "rollout.yml", "-e", json.dumps(extra))
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "rollout stopped at pre-stage" in out, out
    assert f"the inventory wants {wanted} (tfserving_{impl}_sha256)" in out, out
    assert not (tmp_path / "cache").exists()  # nothing was copied
    assert "Upgrade the master" not in out
