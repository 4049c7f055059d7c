"""bench/rollout: how long a rollout keeps each host out of DNS, pre-staged vs today's structure,
and what a 1,000-host five-zone rollout would take at the configured forks.

The fleet is the molecule ``default`` scenario (a master+DNS host and one node in each of two
zones: podman containers with systemd). The benchmark owns it for its whole run: it takes
``/tmp/modelfleet-molecule.lock`` (the molecule tests' lock: one fleet per machine), builds the
hosts' image if needed, removes leftovers, creates, prepares (the wheelhouse) and converges the
fleet, publishes a model, and destroys the fleet at the end.

Each measured run rolls out a NEW build (the current wheels under a new build id, as a release
would be) to both nodes in one batch (``rollout_batch_size=2``, canary off, bake 0: the window
per host is what is measured, and a batch of two tells per-host tasks from run-once ones):

- baseline, "today's structure": ``rollout_prestage=false``: wheelhouse copy, venv build and
  package download inside the drained window;
- pre-staged: the default rollout: those happen in the pre-stage play, before any drain.

- pre-staged under Mitogen: the same rollout with ``ANSIBLE_STRATEGY=mitogen_linear``
  (playbooks/strategy_plugins, opt-in): one Python interpreter per host for the run, modules
  sent over the connection instead of packaged and started anew per task.

Runs alternate (baseline, pre-staged, Mitogen, ...) so machine noise hits all. Figures:

- drained window per host, out of DNS → back in DNS, minus the gates' model-load wait (the
  rollout reports both), pre-staged / baseline: goal <= 0.4;
- controller time per host per task: the wall time of one wave of each task (measured on the
  molecule hosts) and Ansible's own CPU per module execution (calibrated in the same run
  against a stub interpreter: the molecule hosts' ``podman exec`` costs the controller far more
  than pipelined ssh would), and from them (bench/rolloutmodel.py) the projected time of a
  1,000-host five-zone rollout (canary, rest of zone 1, then a zone per batch) at the
  configured forks, with the production drain (TTL, connection age + grace, quiet) and the
  default bake, excluding model loads: goal <= 20 min. Each task of a batch of n hosts costs
  ceil(n / forks) waves of max(its measured wave, forks x CPU / cores): on this 2-core
  controller the CPU bound wins; the figure for a 16-core controller is printed too;
- under Mitogen: its drained window vs the linear strategy's, and the same projection from
  its measured waves and Mitogen's CPU per module execution, calibrated like Ansible's (local
  connection; the hosts' side counts too, since Mitogen needs a real interpreter there):
  goal <= 20 min.

    python -m bench.rollout [--quick]     (--analyze: the figures of the last run's saved logs)
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import rolloutmodel
from tests.ansible.test_molecule import molecule_image

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVENTORY = REPO / "inventory" / "molecule"
WHEELHOUSE = REPO / "wheelhouse"
LOCK = Path("/tmp/modelfleet-molecule.lock")
NODES = ("mf-node1", "mf-node2")
FLEET_HOSTS, FLEET_ZONES = 1000, 5
BUCKET = "/srv/modelfleet-bucket"
# Each measured rollout's JSON log, kept for a look at where it spent its time.
LOGS = REPO / ".cache" / "bench-rollout"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "CONTAINERS_CONF": str(REPO / "containers" / "containers.conf"),
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "PY_COLORS": "0",
            # This checkout's hosts image, as the molecule tests use it (tagged by the hash of
            # its build.sh: other checkouts retag only the shared tag).
            "MODELFLEET_MOLECULE_HOST_IMAGE": molecule_image(),
        }
    )
    env.update(extra)
    return env


def _run(argv: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    """Run a command in its own session; however the benchmark ends (a failure, SIGTERM,
    Ctrl-C), the command and everything under it is stopped before the lock is released."""
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (rc {proc.returncode}):\n{(out + err)[-4000:]}")
    return out


def _molecule(action: str) -> None:
    env = _env()
    env.pop("ANSIBLE_CONFIG")  # molecule writes its own, from molecule.yml
    _run([str(BIN / "molecule"), action, "-s", "default"], env=env, what=f"molecule {action}")


def _podman(host: str, *argv: str) -> str:
    return _run(["podman", "exec", host, *argv], what=f"podman exec {host} {argv[0]}")


def _publish_model() -> None:
    """A fake SavedModel the dev server loads (the hosts have no TensorFlow), as verify does."""
    script = (
        "set -e; d=$(mktemp -d); mkdir -p $d/variables; "
        "printf 'fake saved model for bench %0512d\\n' 0 > $d/saved_model.pb; "
        "echo index > $d/variables/variables.index; chown -R modelfleet $d; "
        f"REMOTE_MODEL_DIRECTORY={BUCKET} runuser -u modelfleet -- "
        "/opt/modelfleet/current/bin/modelfleet publish $d --model half_plus_two -q"
    )
    _podman("mf-master", "sh", "-c", script)


def _wait_nodes_serving(timeout: float = 180) -> None:
    for node in NODES:
        _podman(
            node,
            "/opt/modelfleet/current/bin/modelfleet", "tfserving", "wait-ready",
            "--models", "http://127.0.0.1:8002/api/v1/models",
            "--token-file", "/etc/modelfleet/tokens/cluster.token",
            "--timeout", str(timeout),
        )  # fmt: skip


def _new_build(label: str) -> Path:
    base = (WHEELHOUSE / "current" / "BUILD_ID").read_text().strip()
    build = f"{base}-{label}"
    target = WHEELHOUSE / build
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(WHEELHOUSE / "current", target, symlinks=False)
    (target / "BUILD_ID").write_text(build + "\n")
    return target


# The measured rollouts: baseline (rollout_prestage=false), pre-staged, pre-staged under Mitogen.
MODES = {"b": "baseline", "p": "pre-staged", "m": "pre-staged, Mitogen"}


def _rollout(build: Path, mode: str) -> tuple[dict[str, Any], float, float]:
    """One rollout of ``build``; returns its JSON log, wall seconds and controller CPU seconds."""
    prestage = mode != "b"
    extra = {"ANSIBLE_STRATEGY": "mitogen_linear"} if mode == "m" else {}
    # Mitogen takes over the connection types it knows by their short name: an inventory on top
    # names the hosts' connection "podman" (host vars; the controller's local tasks keep theirs).
    connection = ["-i", str(REPO / "bench" / "mitogen-podman.yml")] if mode == "m" else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = _run(
        [
            str(BIN / "ansible-playbook"), "-i", str(INVENTORY), *connection,
            "playbooks/rollout.yml",
            "-e", f"modelfleet_common_wheelhouse_dir={build}",
            "-e", f"rollout_prestage={str(prestage).lower()}",
            "-e", "rollout_batch_size=2", "-e", "rollout_canary=false",
            "-e", "rollout_bake_seconds=0", "-e", "rollout_min_share=0",
            "-e", "modelfleet_build_wheelhouse=false",
        ],
        env=_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0", **extra),
        what=f"rollout.yml ({MODES[mode]})",
    )  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out[out.index("{") :]), wall, cpu


def _forks() -> int:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    return cfg.getint("defaults", "forks", fallback=5)


def _production_timing() -> tuple[float, float]:
    """Expected drain of a production batch under load (callers leave within one connection
    age, then the count stays still for the quiet time) and the default bake, from the roles'
    defaults and the example production inventory."""
    settings: dict[str, Any] = {}
    for path in (
        REPO / "roles" / "tfserving" / "defaults" / "main.yml",
        REPO / "roles" / "dns" / "defaults" / "main.yml",
        REPO / "inventory" / "production" / "group_vars" / "all.yml",
    ):
        settings.update(yaml.safe_load(path.read_text()) or {})
    age = float(settings["tfserving_max_connection_age_ms"]) * 1.1 / 1000
    grace = float(settings["tfserving_max_connection_age_grace_ms"]) / 1000
    drain = max(float(settings["dns_ttl"]), age + grace) + float(settings["tfserving_drain_quiet"])
    bake = float(settings.get("rollout_bake_seconds", BAKE_DEFAULT))
    return drain, bake


# rollout.yml's default bake (rollout_bake_seconds | default(120)).
BAKE_DEFAULT = 120.0


def _window(log: dict[str, Any]) -> float:
    found = rolloutmodel.windows(log)
    missing = [n for n in NODES if n not in found]
    if missing:
        raise RuntimeError(f"the rollout reported no drained window for {missing}")
    return statistics.mean(w["window_s"] - w["model_load_s"] for w in found.values())


# Per mode (MODES): (window excl. model load, JSON log, wall s, controller CPU s).
Runs = dict[str, list[tuple[float, dict[str, Any], float, float]]]


def measure(quick: bool) -> Runs:
    """Own the molecule fleet under its lock, run the rollouts, always destroy the fleet."""
    subprocess.run([str(REPO / "molecule" / "image" / "build.sh")], env=_env(), check=True)
    builds: list[Path] = []
    # SIGTERM unwinds like Ctrl-C: the fleet is destroyed and the lock released last.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with open(LOCK, "w") as lock:
        print(f"   waiting for {LOCK} (molecule runs of other checkouts)", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _molecule("destroy")  # leftovers of an aborted run
            _molecule("converge")  # create, prepare (wheelhouse), converge site.yml
            _publish_model()
            _wait_nodes_serving()
            runs: Runs = {mode: [] for mode in MODES}
            shutil.rmtree(LOGS, ignore_errors=True)
            for i in range(1 if quick else 2):
                for mode in MODES:
                    build = _new_build(f"bench{i}{mode}")
                    builds.append(build)
                    log, wall, cpu = _rollout(build, mode)
                    LOGS.mkdir(parents=True, exist_ok=True)
                    (LOGS / f"{build.name}.json").write_text(
                        json.dumps({"wall": wall, "cpu": cpu, "log": log})
                    )
                    runs[mode].append((_window(log), log, wall, cpu))
                    window = runs[mode][-1][0]
                    print(f"   rollout {MODES[mode]}: {wall:.1f}s, window {window:.1f}s")
        finally:
            for build in builds:
                shutil.rmtree(build, ignore_errors=True)
            _molecule("destroy")
    return runs


def _calibration_cpu(hosts: int, tasks: int, interpreter: str, **env: str) -> float:
    """Controller CPU of ``tasks`` stat tasks over ``hosts`` hosts on the local connection at
    the configured forks (its hosts' side too, when they run on this machine)."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "hosts.yml"
        names = {f"calib{i}": None for i in range(hosts)}
        local = {"ansible_connection": "local", "ansible_python_interpreter": interpreter}
        inventory.write_text(yaml.safe_dump({"all": {"hosts": names, "vars": local}}))
        playbook = Path(tmp) / "calib.yml"
        playbook.write_text(
            yaml.safe_dump(
                [{"name": "Calibrate", "hosts": "all", "gather_facts": False,
                  "tasks": [{"name": f"Stat {i}", "ansible.builtin.stat": {"path": "/"}}
                            for i in range(tasks)]}]
            )
        )  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        _run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
            env=_env(**env),
            what="calibration",
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def calibrate(hosts: int = 40, tasks: int = 8) -> float:
    """Controller CPU per module execution of Ansible itself, in this run, against a stub
    interpreter that answers at once. The molecule hosts are reached with ``podman exec`` (a Go
    binary started several times per task), which costs the controller far more than a
    fleet's pipelined ssh over one persistent connection; the projection charges this figure
    instead."""
    with tempfile.TemporaryDirectory() as tmp:
        # The "remote" Python answers at once, so the figure is Ansible's own work per
        # execution (templating, packaging the module, the connection's commands, the result).
        stub = Path(tmp) / "python"
        stub.write_text('#!/bin/sh\necho \'{"changed": false, "stat": {"exists": true}}\'\n')
        stub.chmod(0o755)
        return _calibration_cpu(hosts, tasks, str(stub)) / (hosts * tasks)


def calibrate_mitogen(hosts: int = 40, tasks: tuple[int, int] = (4, 20)) -> float:
    """The same figure under the Mitogen strategy. Mitogen needs a real Python on each host (it
    bootstraps itself there), so its hosts' side counts too: each stat, run in the host's
    interpreter. Two runs, few and many tasks: the difference per extra execution leaves out
    the one-time bootstrap of each host."""
    strategy = {
        "ANSIBLE_STRATEGY": "mitogen_linear",
        "ANSIBLE_STRATEGY_PLUGINS": str(REPO / "playbooks" / "strategy_plugins"),
    }
    few, many = (_calibration_cpu(hosts, n, sys.executable, **strategy) for n in tasks)
    return (many - few) / (hosts * (tasks[1] - tasks[0]))


def _project(
    run: tuple[float, dict[str, Any], float, float], cores: int, cpu_per_execution: float
) -> Any:
    _, log, _, cpu = run
    measured = rolloutmodel.plays(log)
    costs = rolloutmodel.task_costs(measured, cpu)
    costs = rolloutmodel.Costs(costs.wall_per_wave, cpu_per_execution, costs.executions)
    drain, bake = _production_timing()
    proj = rolloutmodel.project(
        measured, costs, hosts=FLEET_HOSTS, zones=FLEET_ZONES, forks=_forks(), cores=cores,
        drain_s=drain, bake_s=bake,
    )  # fmt: skip
    return costs, proj


def analyze(runs: Runs) -> list[dict[str, Any]]:
    """The figures, each pre-staged vs the baseline structure of the same run (best of each)."""
    base_run = min(runs["b"], key=lambda r: r[0])
    fast_run = min(runs["p"], key=lambda r: r[0])
    base, fast = base_run[0], fast_run[0]
    forks, cores = _forks(), os.cpu_count() or 1
    ansible_cpu = calibrate()
    fast_costs, fast_proj = _project(fast_run, cores, ansible_cpu)
    base_costs, base_proj = _project(base_run, cores, ansible_cpu)
    podman_cpu = rolloutmodel.task_costs(rolloutmodel.plays(fast_run[1]), fast_run[3])
    print(
        f"controller CPU per module execution: Ansible {ansible_cpu:.3f}s (calibrated, local "
        f"connection); {podman_cpu.cpu_per_execution:.3f}s on the molecule hosts (podman exec)"
    )
    ratio = fast / base if base else None
    print(
        f"drained window per host (excl. model load): pre-staged {fast:.1f}s, baseline {base:.1f}s"
    )
    for label, costs, proj, wall in (
        ("pre-staged", fast_costs, fast_proj, fast_run[2]),
        ("baseline", base_costs, base_proj, base_run[2]),
    ):
        print(
            f"{label}: {costs.wall_per_wave:.2f}s wall per task wave ({costs.executions} module "
            f"executions in a {wall:.0f}s rollout)"
        )
        print(
            f"   projected {FLEET_HOSTS} hosts / {FLEET_ZONES} zones, forks {forks}, "
            f"{cores} cores: {proj.total_s / 60:.1f} min = pre-stage {proj.prestage_s / 60:.1f}"
            f" + master {proj.master_s / 60:.1f} + batches {proj.batches_s / 60:.1f} (drain "
            f"{proj.drain_s:.0f}s each) + bake {proj.bake_s / 60:.1f}; per batch "
            + ", ".join(f"{n}: {t:.0f}s" for n, t in proj.per_batch)
        )
    # The controller's CPU is the limit on 2 cores: the same projection on a 16-core controller.
    _, big = _project(fast_run, 16, ansible_cpu)
    print(f"   pre-staged on a 16-core controller: {big.total_s / 60:.1f} min")
    figures = _mitogen(runs, fast_proj.total_s, fast, cores) if runs.get("m") else []
    return [
        {
            "name": "rollout_drained_window",
            "value": round(fast, 1),
            "unit": "s",
            "baseline": round(base, 1),
            "ratio": round(ratio, 3) if ratio else None,
            "goal": "<= 0.4 (pre-staged vs rollout_prestage=false, same run)",
            "pass": bool(ratio is not None and ratio <= 0.4),
        },
        {
            "name": "rollout_controller_per_host_task",
            "value": round(fast_costs.wall_per_wave, 3),
            "unit": "s",
            "baseline": round(base_costs.wall_per_wave, 3),
            "ratio": round(fast_costs.wall_per_wave / base_costs.wall_per_wave, 3)
            if base_costs.wall_per_wave
            else None,
            "goal": f"reported (forks {forks}; Ansible CPU {ansible_cpu:.3f}s/execution)",
            "pass": True,
        },
        {
            "name": "rollout_projected_1000_hosts",
            "value": round(fast_proj.total_s / 60, 1),
            "unit": "min",
            "baseline": round(base_proj.total_s / 60, 1),
            "ratio": round(fast_proj.total_s / base_proj.total_s, 3) if base_proj.total_s else None,
            "goal": f"<= 20 min, no model loads ({cores} cores; on 16: {big.total_s / 60:.0f})",
            "pass": fast_proj.total_s <= 20 * 60,
        },
        *figures,
    ]


def _mitogen(runs: Runs, linear_s: float, linear_window: float, cores: int) -> list[dict[str, Any]]:
    """The Mitogen run's window and projection, charged Mitogen's calibrated CPU per execution."""
    run = min(runs["m"], key=lambda r: r[0])
    measured = rolloutmodel.task_costs(rolloutmodel.plays(run[1]), run[3])
    cpu = calibrate_mitogen()
    costs, proj = _project(run, cores, cpu)
    _, big = _project(run, 16, cpu)
    print(
        f"pre-staged under Mitogen: window {run[0]:.1f}s; {costs.wall_per_wave:.2f}s wall per task "
        f"wave ({costs.executions} executions in a {run[2]:.0f}s rollout); controller CPU per "
        f"module execution {cpu:.3f}s (calibrated, local connection, the hosts' side included), "
        f"{measured.cpu_per_execution:.3f}s on the molecule hosts (one podman exec per host)"
    )
    print(
        f"   projected {FLEET_HOSTS} hosts / {FLEET_ZONES} zones, {cores} cores: "
        f"{proj.total_s / 60:.1f} min = pre-stage {proj.prestage_s / 60:.1f} + master "
        f"{proj.master_s / 60:.1f} + batches {proj.batches_s / 60:.1f} + bake "
        f"{proj.bake_s / 60:.1f}; on a 16-core controller {big.total_s / 60:.1f} min"
    )
    return [
        {
            "name": "rollout_drained_window_mitogen",
            "value": round(run[0], 1),
            "unit": "s",
            "baseline": round(linear_window, 1),
            "ratio": round(run[0] / linear_window, 3) if linear_window else None,
            "goal": "reported (pre-staged, Mitogen vs linear strategy, same run)",
            "pass": True,
        },
        {
            "name": "rollout_projected_1000_hosts_mitogen",
            "value": round(proj.total_s / 60, 1),
            "unit": "min",
            "baseline": round(linear_s / 60, 1),
            "ratio": round(proj.total_s / linear_s, 3) if linear_s else None,
            "goal": f"<= 20 min, no model loads ({cores} cores; on 16: {big.total_s / 60:.0f}); "
            "baseline: the same projection, linear strategy",
            "pass": proj.total_s <= 20 * 60,
        },
    ]


def saved() -> Runs:
    """The runs of the last measurement, from their saved logs (``--analyze``)."""
    runs: Runs = {mode: [] for mode in MODES}
    for path in sorted(LOGS.glob("*.json")):
        data = json.loads(path.read_text())
        runs[path.stem[-1]].append((_window(data["log"]), data["log"], data["wall"], data["cpu"]))
    return runs


def run(quick: bool = False) -> list[dict[str, Any]]:
    return analyze(measure(quick))


if __name__ == "__main__":
    got = analyze(saved()) if "--analyze" in sys.argv else run(quick="--quick" in sys.argv)
    print(json.dumps(got, indent=2))
