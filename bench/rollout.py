"""bench/rollout: wall time of playbooks/rollout.yml over the molecule hosts, Ansible's defaults
vs the project's tuned ansible.cfg.

The fleet is the molecule ``default`` scenario (master+DNS host, one node in each of two zones,
podman containers with systemd). If its containers are already running they are reused, else
the scenario is created and converged first and destroyed at the end (~6 min extra).

Each run is a full zone-by-zone rollout: master first, then per zone out of DNS, TTL wait,
drain wait, upgrade (idempotent roles: no new build), health gates, back into DNS, master
status gate. The baseline runs with ``ANSIBLE_CONFIG`` pointing at an empty file (Ansible's
defaults: forks 5, implicit fact gathering every play, interpreter discovery, no fact cache);
the tuned run uses ``ansible.cfg`` (interpreter pinned, gathering smart + jsonfile fact cache
warmed by one run, forks 25, fast internal poll; ssh pipelining/ControlPersist do not apply to
the podman connection). ``profile_tasks`` timings split each run into fixed waits (DNS TTL
pauses, drained-connection waits, health-gate polls) and per-task module overhead.

    python -m bench.rollout [--quick]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVENTORY = REPO / "inventory" / "molecule"
HOSTS = ("mf-master", "mf-node1", "mf-node2")
WAIT_TASKS = re.compile(
    r"Wait for the DNS TTL|in-flight gRPC|Wait until|Wait for TF Serving|Wait for the node"
)
TASK_LINE = re.compile(r"^(?P<name>.+?) -{3,} (?P<secs>[0-9.]+)s$")


def _env(config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "CONTAINERS_CONF": str(REPO / "containers" / "containers.conf"),
            "ANSIBLE_CONFIG": str(config),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
            "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        }
    )
    return env


def _fleet_running() -> bool:
    env = _env(REPO / "ansible.cfg")
    for host in HOSTS:
        got = subprocess.run(
            ["podman", "container", "inspect", "-f", "{{.State.Running}}", host],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if got.stdout.strip() != "true":
            return False
    return True


def _molecule(action: str) -> None:
    env = _env(REPO / "ansible.cfg")
    env.pop("ANSIBLE_CONFIG")
    env.pop("ANSIBLE_CALLBACKS_ENABLED")
    subprocess.run(
        [str(BIN / "molecule"), action, "-s", "default"],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _rollout(config: Path) -> tuple[float, dict[str, float]]:
    """Run rollout.yml once; return wall seconds and profile_tasks seconds per task name."""
    started = time.monotonic()
    got = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "playbooks/rollout.yml"],
        cwd=REPO, env=_env(config), capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if got.returncode != 0:
        raise RuntimeError(f"rollout.yml failed ({config.name}):\n{got.stdout[-4000:]}")
    tasks: dict[str, float] = {}
    lines = got.stdout.splitlines()
    for line in lines[max(0, len(lines) - 400) :]:
        match = TASK_LINE.match(line.strip())
        if match:
            name = match["name"].strip()
            tasks[name] = tasks.get(name, 0.0) + float(match["secs"])
    return elapsed, tasks


def _split(tasks: dict[str, float]) -> tuple[float, float, int]:
    waits = sum(s for n, s in tasks.items() if WAIT_TASKS.search(n))
    other = sum(s for n, s in tasks.items() if not WAIT_TASKS.search(n))
    return waits, other, len(tasks)


def run(quick: bool = False) -> list[dict[str, Any]]:
    created = False
    if not _fleet_running():
        _molecule("converge")  # create + prepare + converge
        created = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp) / "defaults.cfg"
            empty.write_text("# Ansible's defaults\n[defaults]\n")
            tuned = REPO / "ansible.cfg"
            _rollout(tuned)  # warm the fact cache, as site.yml leaves it for an operator
            repeats = 1 if quick else 2
            base_runs = [_rollout(empty) for _ in range(repeats)]
            tuned_runs = [_rollout(tuned) for _ in range(repeats)]
    finally:
        if created:
            _molecule("destroy")
    base, base_tasks = min(base_runs, key=lambda r: r[0])
    fast, fast_tasks = min(tuned_runs, key=lambda r: r[0])
    base_wait, base_other, _ = _split(base_tasks)
    fast_wait, fast_other, _ = _split(fast_tasks)
    top = sorted(base_tasks.items(), key=lambda kv: -kv[1])[:5]
    print(f"rollout.yml wall time: defaults {base:.1f}s, tuned ansible.cfg {fast:.1f}s")
    for label, wait, other in (
        ("defaults", base_wait, base_other),
        ("tuned", fast_wait, fast_other),
    ):
        print(
            f"  {label}: {wait:.1f}s in fixed waits (TTL, drain, health gates), "
            f"{other:.1f}s in other tasks (module round trips)"
        )
    print("  slowest tasks with defaults: " + ", ".join(f"{n} {s:.1f}s" for n, s in top))
    ratio = fast / base if base else None
    other_ratio = fast_other / base_other if base_other else None
    return [
        {
            "name": "rollout_wall_time",
            "value": round(fast, 1),
            "unit": "s",
            "baseline": round(base, 1),
            "ratio": round(ratio, 3) if ratio else None,
            "goal": "<= 0.85 (tuned ansible.cfg vs defaults)",
            "pass": bool(ratio is not None and ratio <= 0.85),
        },
        {
            "name": "rollout_task_overhead",
            "value": round(fast_other, 1),
            "unit": "s",
            "baseline": round(base_other, 1),
            "ratio": round(other_ratio, 3) if other_ratio else None,
            "goal": "<= 0.8 (time outside fixed waits)",
            "pass": bool(other_ratio is not None and other_ratio <= 0.8),
        },
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
