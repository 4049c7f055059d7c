"""publish / adopt / list / delete / desired.json on both backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelfleet.desired import read_remote
from modelfleet.names import InvalidName
from modelfleet.store import (
    MANIFEST_NAME,
    NotFound,
    StoreError,
    adopt,
    complete_versions,
    delete_version_objects,
    list_models,
    list_versions,
    publish,
    read_manifest,
    split_version_url,
)
from tests.support.storeutil import tree_bytes, write_model


def test_publish_then_catalog(store, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src")
    m1 = publish(store, src, "half_plus_two")
    m2 = publish(store, src, "half_plus_two")
    assert (m1.version, m2.version) == (1, 2)
    assert list_models(store) == (["half_plus_two"], [])
    assert [(v.version, v.complete) for v in list_versions(store, "half_plus_two")] == [
        (1, True),
        (2, True),
    ]
    manifest, _gen = read_manifest(store, "half_plus_two", 2)
    assert [f.path for f in manifest.files] == sorted(tree_bytes(src))
    assert manifest.total_bytes == sum(len(b) for b in tree_bytes(src).values())
    remote = read_remote(store)
    assert remote.state is not None and remote.generation > 0
    assert remote.state.models["half_plus_two"].published == (1, 2)
    # Every uploaded object has exactly the source bytes.
    for rel, data in tree_bytes(src).items():
        assert store.read(f"half_plus_two/2/{rel}")[0] == data


def test_publish_explicit_version_and_refusals(store, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src")
    assert publish(store, src, "m", 7).version == 7
    with pytest.raises(StoreError, match="already exists"):
        publish(store, src, "m", 7)
    assert publish(store, src, "m").version == 8
    not_saved = tmp_path / "empty"
    not_saved.mkdir()
    (not_saved / "x.txt").write_text("x")
    with pytest.raises(StoreError, match=r"no saved_model\.pb"):
        publish(store, not_saved, "m")
    with pytest.raises(InvalidName):
        publish(store, src, "../evil")


def test_publish_refuses_symlinks(store, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src")
    (src / "link").symlink_to("/etc/passwd")
    with pytest.raises(StoreError, match="symlink"):
        publish(store, src, "m")
    assert list_versions(store, "m") == []


def test_incomplete_version_is_not_complete(store) -> None:
    store.write("m/3/saved_model.pb", b"x")
    assert [(v.version, v.complete) for v in list_versions(store, "m")] == [(3, False)]
    assert complete_versions(store) == ({}, [])
    with pytest.raises(NotFound):
        read_manifest(store, "m", 3)


def test_adopt_writes_manifest_from_metadata(store) -> None:
    payload = {"saved_model.pb": os.urandom(300), "variables/variables.index": b"idx"}
    for rel, data in payload.items():
        store.write(f"m/5/{rel}", data)
    manifest = adopt(store, "m", 5)
    assert {f.path: f.size for f in manifest.files} == {k: len(v) for k, v in payload.items()}
    assert complete_versions(store) == ({"m": [5]}, [])
    with pytest.raises(StoreError, match="already exists"):
        adopt(store, "m", 5)
    store.write("n/1/readme.txt", b"x")
    with pytest.raises(StoreError, match=r"no saved_model\.pb"):
        adopt(store, "n", 1)
    with pytest.raises(StoreError, match="no files"):
        adopt(store, "n", 2)


def test_delete_version_objects_manifest_first(store, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src")
    publish(store, src, "m")
    publish(store, src, "m")
    before = read_remote(store)
    assert delete_version_objects(store, "m", 1) == len(tree_bytes(src)) + 1
    assert [v.version for v in list_versions(store, "m")] == [2]
    # The catalog is the master's forget_version edit, written once before the objects go.
    assert read_remote(store).generation == before.generation
    with pytest.raises(NotFound):
        delete_version_objects(store, "m", 1)


def test_complete_versions_skips_bad_names(store) -> None:
    store.write("good/1/_modelfleet.json", b"{}")
    store.write("good/01/_modelfleet.json", b"{}")
    store.write("bad name/1/_modelfleet.json", b"{}")
    store.write("good/x/_modelfleet.json", b"{}")
    catalog, bad = complete_versions(store)
    assert catalog == {"good": [1]}
    assert bad == ["bad name/1", "good/01", "good/x"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("gs://b/p/model/5", ("gs://b/p", "model", 5)),
        ("gs://b/model/12/", ("gs://b", "model", 12)),
        ("/srv/bucket/m/3", ("/srv/bucket", "m", 3)),
    ],
)
def test_split_version_url(url: str, expected: tuple[str, str, int]) -> None:
    assert split_version_url(url) == expected


@pytest.mark.parametrize("url", ["gs://model/5", "gs://b/p/model/05", "gs://b/../5", "m/x"])
def test_split_version_url_refuses(url: str) -> None:
    with pytest.raises(InvalidName):
        split_version_url(url)


def test_manifest_name_is_reserved_in_sources(store, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src")
    (src / MANIFEST_NAME).write_text("{}")
    with pytest.raises(StoreError, match="reserved"):
        publish(store, src, "m")
