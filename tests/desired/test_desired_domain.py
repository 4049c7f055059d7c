"""The desired-state domain: one typed document, one serving rule, pure edits, one write."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from modelfleet.desired import (
    DESIRED_KEY,
    DesiredState,
    Edit,
    EditConflict,
    GenerationMismatch,
    InvalidDesired,
    ModelEntry,
    UnknownModel,
    apply,
    edit_remote,
    encode_desired,
    parse_desired,
    read_remote,
    served_versions,
    write_remote,
)
from modelfleet.store import LocalStore, PreconditionFailed

ENTRY = ModelEntry(published=(1, 2, 3), versions=(2,), labels={"stable": 2}, history=((1,),))
STATE = DesiredState(models={"m": ENTRY})


class CountingStore(LocalStore):
    """A LocalStore (real generation preconditions) that counts writes of desired.json."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes = 0

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        if key == DESIRED_KEY:
            self.writes += 1
        return super().write(key, data, if_generation_match=if_generation_match)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    s = CountingStore(tmp_path)
    write_remote(s, STATE, if_generation_match=0, updated_by="test")
    s.writes = 0
    return s


def test_served_versions_is_the_one_rule() -> None:
    assert served_versions(ENTRY) == (2,)
    assert served_versions(ModelEntry(published=(1, 5))) == (5,)  # follow the newest
    assert served_versions(ModelEntry(published=(1,), retired=True, versions=(1,))) == ()
    assert served_versions(ModelEntry()) == ()


def test_entries_have_one_spelling() -> None:
    e = ModelEntry(published=(3, 1, 3), versions=(2, 1), labels={"z": 1, "a": 2})
    assert e.published == (1, 3) and e.versions == (1, 2) and list(e.labels) == ["a", "z"]


def test_encode_refuses_what_a_reader_would_refuse() -> None:
    for bad in (
        DesiredState(models={"../x": ModelEntry()}),
        DesiredState(models={"ranker\n": ModelEntry()}),
        DesiredState(models={"m": ModelEntry(versions=(0,))}),
        DesiredState(models={"m": ModelEntry(labels={"Stable": 1}, versions=(1,))}),
        DesiredState(models={"m": ModelEntry(versions=(2,), labels={"stable": 3})}),
    ):
        with pytest.raises(InvalidDesired):
            encode_desired(bad)


def test_parse_is_lenient_per_model_and_strict_per_document() -> None:
    body = {
        "schema": 1,
        "models": {
            "ok": {"versions": [1], "labels": None},  # null = absent (older writers)
            "str_version": {"versions": ["1"]},  # the contract says JSON integers
            "ranker\n": {"versions": [1]},
            "neg": {"published": [-1]},
        },
    }
    state, problems = parse_desired(json.dumps(body).encode())
    assert list(state.models) == ["ok"] and len(problems) == 3
    for bad in (b"not json", b"[1]", b'{"schema": 2, "models": {}}', b'{"schema": 1}'):
        with pytest.raises(InvalidDesired):
            parse_desired(bad)
    with pytest.raises(InvalidDesired):
        parse_desired(b"[" * 100_000 + b"]" * 100_000)


def test_round_trip() -> None:
    data = encode_desired(STATE)
    state, problems = parse_desired(data)
    assert problems == [] and state.models == STATE.models


@pytest.mark.parametrize(
    ("edit", "served", "labels"),
    [
        (Edit("promote", "m", 3), (3,), {"stable": 3}),
        (Edit("rollback", "m"), (1,), {"stable": 1}),
        (Edit("pin", "m", 1), (1,), {}),
        (Edit("pin", "m"), (2,), {"stable": 2}),
        (Edit("label", "m", 3, label="canary"), (2, 3), {"canary": 3, "stable": 2}),
        (Edit("unlabel", "m", label="stable"), (2,), {}),
        (Edit("retire", "m"), (), {"stable": 2}),
        (Edit("forget_version", "m", 1), (2,), {"stable": 2}),
    ],
)
def test_edits(edit: Edit, served: tuple[int, ...], labels: dict[str, int]) -> None:
    entry = apply(STATE, edit).models["m"]
    assert served_versions(entry) == served and dict(entry.labels) == labels


def test_edits_refuse_unknown_models_and_create_nothing() -> None:
    for edit in (
        Edit("promote", "typo", 1),
        Edit("rollback", "typo"),
        Edit("pin", "typo"),
        Edit("unpin", "typo"),
        Edit("label", "typo", 1, label="canary"),
        Edit("retire", "typo"),
        Edit("unretire", "typo"),
        Edit("forget_version", "typo", 1),
    ):
        with pytest.raises(UnknownModel) as info:
            apply(STATE, edit)
        assert info.value.status == 404
    assert apply(STATE, Edit("publish", "new", 1)).models["new"].published == (1,)


@pytest.mark.parametrize(
    "edit",
    [
        Edit("promote", "m", 9),
        Edit("forget_version", "m", 2),  # served
        Edit("unlabel", "m", label="canary"),
    ],
)
def test_conflicting_edits_are_409(edit: Edit) -> None:
    with pytest.raises(EditConflict) as info:
        apply(STATE, edit)
    assert info.value.status == 409


def test_retired_models_refuse_changes_until_unretired() -> None:
    retired = apply(STATE, Edit("retire", "m"))
    with pytest.raises(EditConflict, match="retired"):
        apply(retired, Edit("promote", "m", 3))
    assert served_versions(apply(retired, Edit("unretire", "m")).models["m"]) == (2,)


@pytest.mark.parametrize(
    "args",
    [
        ("promote", "m", 0),
        ("promote", "m\n", 1),
        ("bogus", "m"),
        ("promote", "m"),
        ("label", "m", 1),
    ],
)
def test_edit_records_validate_themselves(args: tuple) -> None:
    with pytest.raises(ValueError):
        Edit(*args)


def test_edit_remote_writes_once_and_not_at_all_when_unchanged(store: CountingStore) -> None:
    before = read_remote(store).generation
    result = edit_remote(store, Edit("promote", "m", 3), updated_by="t")
    assert result.changed and result.generation > before and store.writes == 1
    again = edit_remote(store, Edit("promote", "m", 3), updated_by="t")
    assert not again.changed and again.generation == result.generation and store.writes == 1


def test_edit_remote_refusals_write_nothing(store: CountingStore) -> None:
    raw = store.read(DESIRED_KEY)
    for edit in (Edit("retire", "typo"), Edit("promote", "m", 9)):
        with pytest.raises((UnknownModel, EditConflict)):
            edit_remote(store, edit, updated_by="t")
    with pytest.raises(GenerationMismatch):
        edit_remote(store, Edit("promote", "m", 3), updated_by="t", if_generation=raw[1] + 1)
    assert store.read(DESIRED_KEY) == raw and store.writes == 0


def test_edit_remote_adopts_a_complete_version_first(store: CountingStore) -> None:
    store.write("m/7/_modelfleet.json", b"{}")
    result = edit_remote(store, Edit("promote", "m", 7), updated_by="t")
    assert result.adopted == (7,) and 7 in result.state.models["m"].published
    assert store.writes == 1  # adoption and promote in one write


class RaceStore(CountingStore):
    """Another writer lands between our read and our write, once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.armed = False

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        if self.armed and key == DESIRED_KEY:
            self.armed = False
            other, _ = self.read(key)
            super().write(key, other, if_generation_match=None)  # another writer wins
        return super().write(key, data, if_generation_match=if_generation_match)


def test_lost_race_changes_nothing_unless_retried(tmp_path: Path) -> None:
    store = RaceStore(tmp_path)
    write_remote(store, STATE, if_generation_match=0, updated_by="t")
    store.armed = True
    with pytest.raises(PreconditionFailed):
        edit_remote(store, Edit("promote", "m", 3), updated_by="t")
    assert read_remote(store).state.models["m"].versions == (2,)  # type: ignore[union-attr]
    store.armed = True
    assert edit_remote(store, Edit("promote", "m", 3), updated_by="t", attempts=3).changed


def test_concurrent_publishes_lose_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    def add(version: int) -> None:
        edit_remote(store, Edit("publish", "m", version), updated_by="t", attempts=100)

    threads = [threading.Thread(target=add, args=(v,)) for v in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = read_remote(store).state
    assert state is not None and state.models["m"].published == tuple(range(1, 7))


def test_modules_import_in_either_order() -> None:
    import subprocess
    import sys

    for first in ("modelfleet.desired", "modelfleet.store", "modelfleet.store.catalog"):
        subprocess.run(
            [sys.executable, "-c", f"import {first}; import modelfleet.master"], check=True
        )


def test_publish_after_a_label_on_a_model_that_follows_the_newest() -> None:
    """Found by the edit-sequence property: publish 1, label stable 1, publish 2 left a
    document whose label pointed at an unserved version — every later write failed."""
    state = apply(DesiredState(), Edit("publish", "a", 1))
    state = apply(state, Edit("label", "a", 1, label="stable"))
    assert state.models["a"].versions == (1,)  # the label made the serving set explicit
    state = apply(state, Edit("publish", "a", 2))
    assert served_versions(state.models["a"]) == (1,)
    encode_desired(state)  # still writable
    assert served_versions(apply(state, Edit("promote", "a", 2)).models["a"]) == (2,)
