"""GCS generation preconditions, with a small fake client (the emulator ignores them).

The fake (``tests.support.fakegcs``) keeps the semantics that matter: every write bumps a
generation, and a write with ``if_generation_match`` that does not match raises
google-api-core's PreconditionFailed.
"""

from __future__ import annotations

import threading

import pytest

from modelfleet.desired import (
    DesiredState,
    Edit,
    ModelEntry,
    edit_remote,
    read_remote,
    write_remote,
)
from modelfleet.store import GCSStore, PreconditionFailed
from tests.support.fakegcs import FakeClient


def test_if_generation_match_zero_refuses_existing() -> None:
    store = GCSStore("gs://fake/p", client=FakeClient())
    gen = store.write("_modelfleet/desired.json", b"{}", if_generation_match=0)
    assert gen == 101
    with pytest.raises(PreconditionFailed):
        store.write("_modelfleet/desired.json", b"{}", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        store.write("_modelfleet/desired.json", b"{}", if_generation_match=gen - 1)
    assert store.write("_modelfleet/desired.json", b"{}", if_generation_match=gen) == gen + 1


def test_write_desired_lost_race_raises() -> None:
    store = GCSStore("gs://fake/p", client=FakeClient())
    state = DesiredState(models={"m": ModelEntry(published=(1,))})
    gen = write_remote(store, state, if_generation_match=0, updated_by="a")
    write_remote(store, state, if_generation_match=gen, updated_by="b")  # another writer wins
    with pytest.raises(PreconditionFailed):
        write_remote(store, state, if_generation_match=gen, updated_by="a")


def test_concurrent_updates_lose_nothing() -> None:
    """Eight writers each add their own version; retries on lost races keep all of them."""
    store = GCSStore("gs://fake/p", client=FakeClient())

    def add(version: int) -> None:
        edit_remote(store, Edit("publish", "m", version), updated_by=f"w{version}", attempts=50)

    threads = [threading.Thread(target=add, args=(v,)) for v in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    remote = read_remote(store)
    assert remote.state is not None
    assert remote.state.models["m"].published == tuple(range(1, 9))
    assert remote.generation > 100
