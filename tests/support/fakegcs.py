"""A small fake of google-cloud-storage that keeps GCS's generation preconditions.

The GCS emulator ignores ``if_generation_match`` (DESIGN.md, test environment facts), so the
logic that depends on it — two writers of desired.json, the CLI's ``--direct`` path — is
tested against this fake: every write bumps a generation, and a write with
``if_generation_match`` that does not match raises google-api-core's PreconditionFailed.
"""

from __future__ import annotations

import threading
from typing import Any

from google.api_core import exceptions as gexc

__all__ = ["FakeBlob", "FakeBucket", "FakeClient"]


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
