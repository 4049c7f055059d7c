"""Property: whatever the sequence of desired states, publications, corrupt versions, local
deletions by another process and restarts, the puller converges and never leaves a partial
version.

A hypothesis state machine drives a real puller (sync passes run in-process, pulls in their
threads) against a real directory bucket. After every step the puller settles, and then:

- every version the bucket wants this node to serve is installed (unless it is corrupt in
  the bucket, and then it is reported, never installed);
- every installed version verifies byte for byte (crc32c) against its manifest, and nothing
  is left in staging;
- the local desired document names exactly what the bucket wants served;
- the status agrees with the disk.

``make soak`` runs many more and longer sequences (``MODELFLEET_SOAK=1``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from modelfleet.localdir import LocalModelDir
from modelfleet.puller import PullerDaemon, PullerSettings
from modelfleet.store import open_store, publish
from tests.support.storeutil import set_desired, write_model

SOAK = bool(os.environ.get("MODELFLEET_SOAK"))
MODELS = st.sampled_from(["a", "b", "c"])


class PullerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="puller-prop-"))
        for name in ("bucket", "local", "state"):
            (self.tmp / name).mkdir()
        self.store = open_store(str(self.tmp / "bucket"))
        self.local = LocalModelDir(self.tmp / "local")
        self.published: dict[str, list[int]] = {}
        self.corrupt: set[tuple[str, int]] = set()
        self.entries: dict[str, dict[str, Any]] = {}  # what the bucket's desired state says
        self.daemon = self._new_daemon()

    def _new_daemon(self) -> PullerDaemon:
        s = PullerSettings.from_env(
            env={
                "HOSTNAME": "prop",
                "LOCAL_MODEL_DIRECTORY": str(self.tmp / "local"),
                "REMOTE_MODEL_DIRECTORY": str(self.tmp / "bucket"),
                "MODELFLEET_STATE_DIR": str(self.tmp / "state"),
                "MODELFLEET_POLL_INTERVAL": "0.05",
                "MODELFLEET_DISK_RESERVE_MB": "0",
                "MODELFLEET_FSYNC": "false",
                "MODELFLEET_DOWNLOAD_WORKERS": "3",
                "MODELFLEET_SLICE_SIZE_MB": "1",
                "MODELFLEET_PULL_CONCURRENCY": "2",
            }
        )
        daemon = PullerDaemon(s)
        daemon.recover()
        return daemon

    def teardown(self) -> None:
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what the bucket says ----------------------------------------------------------------

    def _set(self, model: str, **entry: Any) -> None:
        set_desired(self.store, model, **entry)
        self.entries.setdefault(model, {}).update(entry)

    def _served(self, model: str) -> list[int]:
        entry = self.entries.get(model, {})
        if entry.get("retired") or not self.published.get(model):
            return []
        return sorted(entry.get("versions") or [max(self.published[model])])

    # -- rules -----------------------------------------------------------------------------

    @initialize()
    def first_version(self) -> None:
        self.publish_version("a", corrupt=False)

    @rule(model=MODELS, corrupt=st.booleans())
    def publish_version(self, model: str, corrupt: bool) -> None:
        version = max(self.published.get(model, [0])) + 1
        seed = len(self.published.get(model, [])) + 1
        src = write_model(self.tmp / f"src-{model}-{version}", seed=seed)
        publish(self.store, src, model, version)
        self.published.setdefault(model, []).append(version)
        self.entries.setdefault(model, {})
        if corrupt and version > 1:  # bytes changed after the manifest was written
            key = f"{model}/{version}/saved_model.pb"
            data = bytearray(self.store.read(key)[0])
            data[0] ^= 0xFF
            self.store.write(key, bytes(data))
            self.corrupt.add((model, version))

    @precondition(lambda self: self.published)
    @rule(data=st.data())
    def promote(self, data: st.DataObject) -> None:
        model = data.draw(st.sampled_from(sorted(self.published)))
        versions = data.draw(
            st.lists(st.sampled_from(self.published[model]), min_size=1, max_size=2, unique=True)
        )
        self._set(model, versions=tuple(sorted(versions)), labels={}, retired=False)

    @precondition(lambda self: self.published)
    @rule(data=st.data())
    def follow_newest(self, data: st.DataObject) -> None:
        self._set(data.draw(st.sampled_from(sorted(self.published))), versions=(), labels={})

    @precondition(lambda self: self.published)
    @rule(data=st.data(), retired=st.booleans())
    def retire(self, data: st.DataObject, retired: bool) -> None:
        model = data.draw(st.sampled_from(sorted(self.published)))
        self._set(model, retired=retired, labels={})

    @rule(data=st.data())
    def another_process_deletes(self, data: st.DataObject) -> None:
        """The config manager frees a version (or an operator removes one by hand)."""
        present, _ = self.local.scan()
        choices = sorted((m, v) for m, vs in present.items() for v in vs)
        if choices:
            model, version = data.draw(st.sampled_from(choices))
            assert self.local.delete_version(model, version)

    @rule(leave_staging=st.booleans())
    def restart(self, leave_staging: bool) -> None:
        """The puller dies (possibly mid-pull, leaving staging behind) and starts again."""
        self.daemon.stop()
        if leave_staging:
            half = self.local.new_staging("a", 99)
            (half / "saved_model.pb").write_bytes(b"half a file")
        self.daemon = self._new_daemon()

    # -- after every step ----------------------------------------------------------------

    @invariant()
    def converged(self) -> None:
        self.daemon.settle(timeout=60)
        present, not_installed = self.local.scan()
        assert not_installed == []
        assert list(self.local.staging.iterdir()) == [], "a partial version was left"
        for model, versions in present.items():
            for version in versions:
                assert self.local.verify(model, version) is None
                assert (model, version) not in self.corrupt
        desired = self.local.read_desired().models or {}
        for model in sorted(self.published):
            served = self._served(model)
            want = [v for v in served if (model, v) not in self.corrupt]
            assert set(want) <= set(present.get(model, [])), f"{model}: {want} not installed"
            if served:
                assert desired[model].versions == tuple(served)
            else:
                assert model not in desired
        errors = {(e["model"], e["version"]) for e in self.daemon.status()["errors"]}
        for model, version in self.corrupt:
            if version in self._served(model):
                assert (model, version) in errors, "a corrupt version must be reported"
        assert self.daemon.status()["local"] == present


PullerMachine.TestCase.settings = settings(
    max_examples=200 if SOAK else 12,
    stateful_step_count=30 if SOAK else 8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
test_puller_converges = PullerMachine.TestCase

if SOAK:
    test_puller_converges = pytest.mark.soak(test_puller_converges)
