"""GCS generation preconditions, with a small fake client (the emulator ignores them).

The fake keeps the semantics that matter: every write bumps a generation, and a write with
``if_generation_match`` that does not match raises google-api-core's PreconditionFailed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from modelfleet.store import GCSStore, PreconditionFailed, read_desired, update_desired
from modelfleet.store.desired import write_desired


class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str, generation: int | None = None) -> None:
        self.bucket, self.name, self.generation = bucket, name, generation
        self.size: int | None = None
        self.crc32c: str | None = None

    def upload_from_string(self, data: bytes, content_type: Any = None, **kw: Any) -> None:
        with self.bucket.lock:
            current = self.bucket.objects.get(self.name, (b"", 0))[1]
            match = kw.get("if_generation_match")
            if match is not None and match != current:
                raise gexc.PreconditionFailed("conditionNotMet")
            self.bucket.counter += 1
            self.bucket.objects[self.name] = (bytes(data), self.bucket.counter)
            self.generation = self.bucket.counter

    def download_as_bytes(self, **_opts: Any) -> bytes:
        data, gen = self.bucket.objects.get(self.name, (None, 0))
        if data is None or (self.generation and self.generation != gen):
            raise gexc.NotFound("no such object")
        return data

    def delete(self, **_opts: Any) -> None:
        if self.bucket.objects.pop(self.name, None) is None:
            raise gexc.NotFound("no such object")


class FakeBucket:
    def __init__(self, name: str) -> None:
        self.name = name
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.counter = 100
        self.lock = threading.Lock()
        self.client: Any = None

    def blob(self, name: str, generation: int | None = None) -> FakeBlob:
        return FakeBlob(self, name, generation)

    def get_blob(self, name: str, **_opts: Any) -> FakeBlob | None:
        if name not in self.objects:
            return None
        data, gen = self.objects[name]
        blob = FakeBlob(self, name, gen)
        blob.size = len(data)
        return blob


class FakeClient:
    def __init__(self) -> None:
        self._bucket = FakeBucket("fake")
        self._bucket.client = self

    def bucket(self, name: str) -> FakeBucket:
        return self._bucket


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
    doc = {"schema": 1, "models": {"m": {"published": [1]}}}
    gen = write_desired(store, doc, if_generation_match=0)
    write_desired(store, doc, if_generation_match=gen)  # another writer wins
    with pytest.raises(PreconditionFailed):
        write_desired(store, doc, if_generation_match=gen)


def test_concurrent_updates_lose_nothing() -> None:
    """Eight writers each add their own version; retries on lost races keep all of them."""
    store = GCSStore("gs://fake/p", client=FakeClient())

    def add(version: int) -> None:
        def mutate(doc: dict[str, Any]) -> None:
            entry = doc["models"].setdefault("m", {})
            entry["published"] = sorted({*(entry.get("published") or []), version})

        update_desired(store, mutate, updated_by=f"w{version}", attempts=50)

    threads = [threading.Thread(target=add, args=(v,)) for v in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc, gen = read_desired(store)
    assert doc is not None
    assert doc["models"]["m"]["published"] == list(range(1, 9))
    assert gen > 100
