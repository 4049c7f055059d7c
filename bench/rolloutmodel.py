"""What bench/rollout.py reads from a rollout's JSON log, and the projection to a big fleet.

A rollout run with the ``ansible.posix.json`` stdout callback gives, per play (one per serial
batch) and per task, the task's wall time and each host's result. From it:

- :func:`windows`: each host's drained window (out of DNS until back in DNS) and the model
  load inside it, from the rollout's own "Report each host's drained window" task;
- :func:`task_costs`: the tasks of each play, split into fixed waits (DNS TTL, drain, gates,
  bake: they run on every host of a batch at once, whatever its size) and module round trips
  (they cost the controller one execution per host, ``forks`` at a time);
- :func:`project`: the same rollout on a fleet of ``hosts`` in ``zones`` zones (a canary, the
  rest of its zone, then a zone per batch), with the production drain time in place of the
  test fleet's and every round trip costing ``max(wall, forks x cpu / cores)`` per wave.

No helper module of bench/run_all.py has a ``run``: this one is not a benchmark itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

# Tasks whose time is a wait on the hosts or the master, not a module round trip per host.
WAIT_TASKS = re.compile(
    r"^(Wait for the DNS TTL|Wait until TF Serving's request rate|Wait until TF Serving answers"
    r"|Wait until the master|Wait until pip has installed|Let the canary serve)"
)
# The drain waits of a batch, replaced by the production drain in the projection.
DRAIN_TASKS = re.compile(r"^(Wait for the DNS TTL|Wait until TF Serving's request rate)")
WINDOW_TASK = "Report each host's drained window"
PRESTAGE_PLAY = re.compile(r"^Pre-stage")
BATCH_PLAY = re.compile(r"^Upgrade the serving nodes")
MASTER_PLAY = re.compile(r"^Upgrade the master")


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.rstrip("Z")).timestamp()


def _executions(result: dict[str, Any]) -> int:
    """Module executions of one host's result: one, or one per loop item not skipped."""
    if result.get("skipped"):
        return 0
    items = result.get("results")
    if isinstance(items, list):
        return sum(1 for item in items if isinstance(item, dict) and not item.get("skipped"))
    return 1


@dataclass
class Task:
    name: str
    wall: float
    wait: bool
    per_host: int  # executions on the busiest host (the waves one host needs)
    hosts: int  # hosts that ran it
    executions: int  # all executions


@dataclass
class Play:
    name: str
    wall: float
    batch: int
    tasks: list[Task] = field(default_factory=list)

    @property
    def waits(self) -> float:
        return sum(t.wall for t in self.tasks if t.wait)

    @property
    def round_trips(self) -> list[Task]:
        return [t for t in self.tasks if not t.wait and t.executions > 0]


def _merged(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per task: the Mitogen strategy reports a task once per host (consecutive
    entries with the task's id), the linear strategy once with every host's result."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        last = out[-1] if out else None
        same = last is not None and entry["task"].get("id") == last["task"].get("id")
        if not same or "end" not in entry["task"].get("duration", {}):
            out.append({"task": dict(entry["task"]), "hosts": dict(entry.get("hosts", {}))})
            continue
        assert last is not None
        ours, theirs = last["task"]["duration"], entry["task"]["duration"]
        if "end" in ours:
            ours["start"] = min(ours["start"], theirs["start"], key=_seconds)
            ours["end"] = max(ours["end"], theirs["end"], key=_seconds)
        last["hosts"].update(entry.get("hosts", {}))
    return out


def plays(log: dict[str, Any]) -> list[Play]:
    out: list[Play] = []
    for raw in log.get("plays", []):
        info = raw["play"]
        dur = info.get("duration", {})
        wall = _seconds(dur["end"]) - _seconds(dur["start"]) if "end" in dur else 0.0
        play = Play(info["name"], wall, 0)
        hosts: set[str] = set()
        for entry in _merged(raw.get("tasks", [])):
            task = entry["task"]
            tdur = task.get("duration", {})
            if "end" not in tdur:
                continue
            counts = {h: _executions(r) for h, r in entry.get("hosts", {}).items()}
            hosts.update(h for h, n in counts.items() if n)
            play.tasks.append(
                Task(
                    name=task["name"],
                    wall=_seconds(tdur["end"]) - _seconds(tdur["start"]),
                    wait=bool(WAIT_TASKS.search(task["name"])),
                    per_host=max(counts.values(), default=0),
                    hosts=sum(1 for n in counts.values() if n),
                    executions=sum(counts.values()),
                )
            )
        play.batch = len(hosts)
        out.append(play)
    return out


def windows(log: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per host: ``window_s`` (out of DNS → back in DNS) and ``model_load_s`` inside it."""
    found: dict[str, dict[str, float]] = {}
    for raw in log.get("plays", []):
        for entry in raw.get("tasks", []):
            if not entry["task"]["name"].startswith(WINDOW_TASK):
                continue
            for host, result in entry.get("hosts", {}).items():
                msg = result.get("msg")
                if isinstance(msg, dict) and "window_s" in msg:
                    found[host] = {
                        "window_s": float(msg["window_s"]),
                        "model_load_s": float(msg.get("model_load_s", 0.0)),
                    }
    return found


@dataclass(frozen=True)
class Costs:
    """Controller cost of one module round trip, measured: wall per wave, CPU per execution."""

    wall_per_wave: float
    cpu_per_execution: float
    executions: int


def task_costs(measured: list[Play], cpu_seconds: float) -> Costs:
    """Mean over the node plays (the master's play is one host, counted as it ran)."""
    nodes = [p for p in measured if not MASTER_PLAY.search(p.name)]
    waves = sum(t.per_host for p in nodes for t in p.round_trips)
    wall = sum(t.wall for p in nodes for t in p.round_trips)
    executions = sum(t.executions for p in measured for t in p.tasks)
    return Costs(
        wall_per_wave=wall / waves if waves else 0.0,
        cpu_per_execution=cpu_seconds / executions if executions else 0.0,
        executions=executions,
    )


def _task_time(task: Task, n: int, costs: Costs, forks: int, cores: int) -> float:
    """One task over ``n`` hosts: a run-once task (one host) costs what it cost; a per-host
    task ceil(n / forks) waves, each the longer of its measured wave (a restart holds its fork
    longer than a stat) and the controller's CPU for ``forks`` executions."""
    measured = task.wall / task.per_host if task.per_host else 0.0
    if task.hosts <= 1 and task.executions <= task.per_host:
        return task.wall
    wave = max(measured, min(n, forks) * costs.cpu_per_execution / cores)
    return task.per_host * math.ceil(n / forks) * wave


@dataclass(frozen=True)
class Projection:
    total_s: float
    prestage_s: float
    batches_s: float
    bake_s: float
    master_s: float
    drain_s: float
    per_batch: list[tuple[int, float]]


def project(
    measured: list[Play],
    costs: Costs,
    *,
    hosts: int,
    zones: int,
    forks: int,
    cores: int,
    drain_s: float,
    bake_s: float,
) -> Projection:
    """The measured rollout's structure on ``hosts`` hosts in ``zones`` equal zones."""
    zone = hosts // zones
    sizes = [1, zone - 1] + [zone] * (zones - 1)
    prestage = [p for p in measured if PRESTAGE_PLAY.search(p.name)]
    batch = [p for p in measured if BATCH_PLAY.search(p.name)]
    master = [p for p in measured if MASTER_PLAY.search(p.name)]
    if not batch:
        raise ValueError("the measured rollout has no batch play")
    template = max(batch, key=lambda p: p.batch)
    other = [p for p in measured if p not in prestage + batch + master]
    pre_s = sum(p.waits + sum(_task_time(t, hosts, costs, forks, cores) for t in p.round_trips)
                for p in prestage + other)  # fmt: skip
    drain_measured = sum(t.wall for t in template.tasks if DRAIN_TASKS.search(t.name))
    per_batch: list[tuple[int, float]] = []
    for n in sizes:
        trips = sum(_task_time(t, n, costs, forks, cores) for t in template.round_trips)
        per_batch.append((n, trips + template.waits - drain_measured + drain_s))
    batches_s = sum(s for _, s in per_batch)
    master_s = sum(p.wall for p in master)
    total = pre_s + master_s + batches_s + bake_s
    return Projection(total, pre_s, batches_s, bake_s, master_s, drain_s, per_batch)
