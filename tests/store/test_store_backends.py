"""Both backends behave the same for the calls the puller, master and CLI rely on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelfleet.store import FetchItem, LocalStore, NotFound, PreconditionFailed, StoreError
from modelfleet.store.manifest import crc32c_of_file


def test_write_read_stat_generation(store) -> None:
    assert store.stat("a/b.json") is None
    gen1 = store.write("a/b.json", b"one")
    data, gen = store.read("a/b.json")
    assert data == b"one" and gen == gen1
    info = store.stat("a/b.json")
    assert info is not None and info.size == 3 and info.generation == gen1
    gen2 = store.write("a/b.json", b"two")
    assert gen2 != gen1
    assert store.read("a/b.json") == (b"two", gen2)


def test_read_missing_raises_not_found(store) -> None:
    with pytest.raises(NotFound):
        store.read("nope/x")


def test_listing_and_dirs(store) -> None:
    for key in ("m/1/a", "m/1/sub/b", "m/2/c", "n/1/d", "top"):
        store.write(key, key.encode())
    assert [o.key for o in store.list_objects("m")] == ["m/1/a", "m/1/sub/b", "m/2/c"]
    assert store.list_dirs("") == ["m", "n"]
    assert store.list_dirs("m") == ["1", "2"]
    assert store.list_objects("zzz") == []


def test_delete_is_idempotent(store) -> None:
    store.write("m/1/a", b"x")
    store.delete("m/1/a")
    store.delete("m/1/a")
    assert store.stat("m/1/a") is None


def test_fetch_small_and_sliced(store, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    small = os.urandom(1000)
    store.write("m/1/big.bin", big)
    store.write("m/1/small.bin", small)
    dest = tmp_path / "dest"
    dest.mkdir()
    seen = []
    store.fetch(
        [
            FetchItem("m/1/big.bin", dest / "big.bin", len(big)),
            FetchItem("m/1/small.bin", dest / "small.bin", len(small)),
        ],
        workers=4,
        slice_bytes=1024 * 1024,  # the big object goes through sliced download
        progress=seen.append,
    )
    assert (dest / "big.bin").read_bytes() == big
    assert (dest / "small.bin").read_bytes() == small
    assert sum(seen) == len(big) + len(small)


def test_fetch_missing_object_fails(store, tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        store.fetch([FetchItem("m/1/none", tmp_path / "none", 1)])


def test_precondition_on_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    gen = store.write("_modelfleet/desired.json", b"{}", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        store.write("_modelfleet/desired.json", b"{}", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        store.write("_modelfleet/desired.json", b"{}", if_generation_match=gen + 5)
    gen2 = store.write("_modelfleet/desired.json", b"{1}", if_generation_match=gen)
    assert gen2 == gen + 1
    store.delete("_modelfleet/desired.json")
    # Deleted: "must not exist" holds again, and generations never go back.
    assert store.write("_modelfleet/desired.json", b"{}", if_generation_match=0) > gen2


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a//b", "a/./b"])
def test_local_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(StoreError):
        store.write(key, b"x")
    assert not (tmp_path / "x").exists()


def test_local_store_hides_its_bookkeeping(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write("_modelfleet/desired.json", b"{}", if_generation_match=0)
    assert [o.key for o in store.list_objects()] == ["_modelfleet/desired.json"]


def test_gcs_crc32c_matches_manifest_encoding(gcs_bucket: str, tmp_path: Path) -> None:
    from modelfleet.store import open_store

    store = open_store(gcs_bucket)
    data = os.urandom(5000)
    (tmp_path / "f").write_bytes(data)
    store.write("f", data)
    info = store.stat("f")
    assert info is not None and info.crc32c == crc32c_of_file(tmp_path / "f")[1]


def test_request_counter_counts_every_call(tmp_path: Path) -> None:
    counts: dict[str, int] = {}
    store = LocalStore(
        tmp_path, on_request=lambda op, n: counts.update({op: counts.get(op, 0) + n})
    )
    store.write("a", b"1")
    store.stat("a")
    store.read("a")
    store.list_objects()
    assert counts == {"write": 1, "stat": 1, "read": 1, "list": 1}
