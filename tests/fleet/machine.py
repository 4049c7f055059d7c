"""The model-based test of the fleet: random operations and faults, an oracle, convergence.

:class:`FleetMachine` is a hypothesis ``RuleBasedStateMachine`` over a real local fleet
(:mod:`tests.fleet.harness`). Each rule is one thing an operator does or one fault:
publish (good or corrupt), promote, rollback, pin/unpin, label, retire/undo, delete a
version, publish a deleted version again, SIGKILL + restart of a puller or a config
manager, SIGKILL + restart of TF Serving. After every step every node must converge to
what :mod:`tests.fleet.oracle` says within :data:`CONVERGE_SECONDS`, and the invariant
watcher must have seen nothing wrong at any moment.

The master's answers are part of the check: an edit that fits the state must be accepted,
and a refusal must be one of the documented 409s (a delete of a version still desired or
still loaded somewhere, a label on a pinned model, a rollback past a deleted version).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.fleet.harness import FleetHarness, InvariantWatcher
from tests.fleet.oracle import expect, node_problems

__all__ = ["CONVERGE_SECONDS", "FleetMachine", "bind"]

CONVERGE_SECONDS = 60.0
_RUN = itertools.count(1)

HARNESS: FleetHarness | None = None
WATCHER: InvariantWatcher | None = None


def bind(harness: FleetHarness, watcher: InvariantWatcher) -> None:
    """The fleet every machine instance drives (one fleet for all examples of a run)."""
    global HARNESS, WATCHER
    HARNESS, WATCHER = harness, watcher


class FleetMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        assert HARNESS is not None and WATCHER is not None
        self.h = HARNESS
        self.watcher = WATCHER
        run = next(_RUN)
        self.models = [f"r{run}a", f"r{run}b"]
        self.watcher.models.extend(self.models)
        self.corrupt: dict[str, set[int]] = {m: set() for m in self.models}
        self.deleted: dict[str, set[int]] = {m: set() for m in self.models}
        self.next_version = dict.fromkeys(self.models, 1)
        self.copies = itertools.count(1)
        self.log: list[str] = []

    # -- helpers ------------------------------------------------------------------------------

    def entry(self, model: str) -> dict[str, Any]:
        return dict((self.h.desired().get("models") or {}).get(model) or {})

    def published(self, model: str) -> list[int]:
        return list(self.entry(model).get("published") or [])

    def step(self, text: str) -> None:
        self.log.append(text)

    def edit(self, method: str, path: str, body: dict[str, Any] | None, may_refuse: bool) -> bool:
        resp = self.h.master(method, path, body)
        self.step(f"  -> {resp.status_code} {resp.text[:160] if resp.status_code != 200 else ''}")
        if resp.status_code == 200:
            return True
        assert may_refuse and resp.status_code == 409, (
            f"master refused {method} {path} {body}: {resp.status_code} {resp.text}"
        )
        return False

    # -- operators ----------------------------------------------------------------------------

    @initialize(first=st.integers(1, 4), second=st.integers(1, 2))
    def first_versions(self, first: int, second: int) -> None:
        """A few good versions to start with, so promotes and rollbacks have room."""
        for model, count in zip(self.models, (first, second), strict=True):
            for _ in range(count):
                self.do_publish(model, corrupt=False)

    def do_publish(self, model: str, corrupt: bool) -> None:
        version = self.next_version[model]
        self.next_version[model] += 1
        self.step(f"publish {model}/{version}{' CORRUPT' if corrupt else ''}")
        self.h.publish(model, version, corrupt=corrupt, tag=str(next(self.copies)))
        if corrupt:
            self.corrupt[model].add(version)

    @rule(model=st.sampled_from([0, 1]), corrupt=st.booleans())
    def publish(self, model: int, corrupt: bool) -> None:
        self.do_publish(self.models[model], corrupt)

    @rule(model=st.sampled_from([0, 1]), pick=st.integers(0, 100))
    def promote(self, model: int, pick: int) -> None:
        name = self.models[model]
        entry = self.entry(name)
        published = entry.get("published") or []
        if not published:
            return
        version = published[pick % len(published)]
        self.step(f"promote {name} {version}")
        retired = bool(entry.get("retired"))
        if self.edit("POST", f"/models/{name}/promote", {"version": version}, may_refuse=retired):
            after = self.entry(name)
            assert after["versions"] == [version] and after["labels"].get("stable") == version

    @rule(model=st.sampled_from([0, 1]))
    def rollback(self, model: int) -> None:
        name = self.models[model]
        self.step(f"rollback {name}")
        self.edit("POST", f"/models/{name}/rollback", {}, may_refuse=True)

    @rule(model=st.sampled_from([0, 1]), pick=st.one_of(st.none(), st.integers(0, 100)))
    def pin(self, model: int, pick: int | None) -> None:
        name = self.models[model]
        published = self.published(name)
        body: dict[str, Any] = {"pinned": True}
        if pick is not None and published:
            body["version"] = published[pick % len(published)]
        self.step(f"pin {name} {body.get('version', '')}")
        self.edit("POST", f"/models/{name}/pin", body, may_refuse=True)

    @rule(model=st.sampled_from([0, 1]))
    def unpin(self, model: int) -> None:
        name = self.models[model]
        self.step(f"unpin {name}")
        self.edit("POST", f"/models/{name}/pin", {"pinned": False}, may_refuse=True)

    @rule(model=st.sampled_from([0, 1]), pick=st.integers(0, 100))
    def label_canary(self, model: int, pick: int) -> None:
        name = self.models[model]
        published = self.published(name)
        if not published:
            return
        version = published[pick % len(published)]
        self.step(f"label {name} canary={version}")
        self.edit("POST", f"/models/{name}/labels", {"label": "canary", "version": version}, True)

    @rule(model=st.sampled_from([0, 1]), undo=st.booleans())
    def retire(self, model: int, undo: bool) -> None:
        name = self.models[model]
        self.step(f"retire {name}{' --undo' if undo else ''}")
        self.edit("POST", f"/models/{name}/retire", {"retired": not undo}, may_refuse=False)

    @rule(model=st.sampled_from([0, 1]), pick=st.integers(0, 100))
    def delete_version(self, model: int, pick: int) -> None:
        name = self.models[model]
        published = self.published(name)
        if len(published) < 2:
            return
        version = published[pick % len(published)]
        self.step(f"delete-version {name} {version}")
        if self.edit("DELETE", f"/models/{name}/versions/{version}", None, may_refuse=True):
            self.corrupt[name].discard(version)
            self.deleted[name].add(version)
            assert version not in self.published(name)

    @precondition(lambda self: any(self.deleted.values()))
    @rule(pick=st.integers(0, 100))
    def republish_deleted(self, pick: int) -> None:
        """A version deleted and published again under the same number (a good copy now)."""
        choices = sorted((m, v) for m, vs in self.deleted.items() for v in vs)
        model, version = choices[pick % len(choices)]
        self.step(f"re-publish {model}/{version} (good copy)")
        self.h.publish(model, version, corrupt=False, tag=str(next(self.copies)))
        self.deleted[model].discard(version)

    @rule(
        model=st.sampled_from([0, 1]),
        picks=st.lists(st.integers(0, 100), min_size=2, max_size=3),
    )
    def promote_burst(self, model: int, picks: list[int]) -> None:
        """Promotes in quick succession, without waiting for the fleet in between: pulls and
        config walks in flight are overtaken by the next desired state."""
        name = self.models[model]
        for pick in picks:
            entry = self.entry(name)
            published = entry.get("published") or []
            if not published or entry.get("retired"):
                return
            version = published[pick % len(published)]
            self.step(f"promote {name} {version} (burst)")
            self.edit("POST", f"/models/{name}/promote", {"version": version}, may_refuse=False)

    @rule(
        model=st.sampled_from([0, 1]),
        pick=st.integers(0, 100),
        node=st.integers(0, 7),
        role=st.sampled_from(["remote_model_puller", "config_manager", "tfserving"]),
    )
    def promote_then_kill(self, model: int, pick: int, node: int, role: str) -> None:
        """A promote, and at once a SIGKILL of one process of a node: mid-pull, mid-walk or
        mid-load; it restarts and must finish the job."""
        name = self.models[model]
        entry = self.entry(name)
        published = entry.get("published") or []
        if not published or entry.get("retired"):
            return
        version = published[pick % len(published)]
        spec = self.h.nodes[node % len(self.h.nodes)]
        self.step(f"promote {name} {version}, at once kill -9 {role} on {spec.name}")
        self.edit("POST", f"/models/{name}/promote", {"version": version}, may_refuse=False)
        self.h.kill(spec, role)

    # -- faults -------------------------------------------------------------------------------

    @rule(node=st.integers(0, 7), role=st.sampled_from(["remote_model_puller", "config_manager"]))
    def kill_daemon(self, node: int, role: str) -> None:
        spec = self.h.nodes[node % len(self.h.nodes)]
        self.step(f"kill -9 {role} on {spec.name}, restart")
        self.h.kill(spec, role)

    @rule(node=st.integers(0, 7))
    def restart_tfserving(self, node: int) -> None:
        spec = self.h.nodes[node % len(self.h.nodes)]
        self.step(f"kill -9 tfserving on {spec.name}, restart")
        self.h.kill(spec, "tfserving")

    # -- checks -------------------------------------------------------------------------------

    @invariant()
    def converges(self) -> None:
        deadline = time.monotonic() + CONVERGE_SECONDS
        while True:
            doc = self.h.desired().get("models") or {}
            problems = []
            for model in self.models:
                exp = expect(model, doc.get(model), self.corrupt[model])
                for node in self.h.nodes:
                    view = self.h.observe(node, [model])
                    problems += [f"{node.name} {model}: {p}" for p in node_problems(view, exp)]
            if not problems:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not converged after {CONVERGE_SECONDS:.0f}s:\n  "
                    + "\n  ".join(problems)
                    + "\nsteps:\n"
                    + "\n".join(self.log)
                    + f"\ndesired: {doc}\n"
                    + self.h.log_tails()
                )
            time.sleep(0.25)
        assert not self.watcher.violations, self.watcher.violations

    def teardown(self) -> None:
        print(f"fleet example {self.models[0][:-1]}:\n  " + "\n  ".join(self.log))
        for model in self.models:
            self.h.master("POST", f"/models/{model}/retire", {"retired": True})
