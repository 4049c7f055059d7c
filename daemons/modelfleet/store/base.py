"""The remote store interface shared by the puller, the master and the CLI.

A store is a flat key space under a root (``gs://bucket/prefix`` or a local directory);
keys are ``/``-separated and relative to the root. Every backend exposes the same small
set of calls so that the model logic (manifests, desired state, publish, pull) is written
once and tested against both a real directory and the GCS emulator.

Each backend reports every remote request it makes to an optional ``on_request(op, n)``
callback: the puller's promise of "one cheap read per idle poll" is measured there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "Cancelled",
    "FetchItem",
    "NotFound",
    "ObjectInfo",
    "PreconditionFailed",
    "RemoteStore",
    "RequestCounter",
    "StoreError",
]

RequestCounter = Callable[[str, int], None]
"""``counter(op, n)``: called with the kind of request (``stat``, ``read``, ``list``…)."""


class StoreError(RuntimeError):
    """The store could not do what was asked (unreachable, refused, bad content)."""


class NotFound(StoreError, KeyError):
    """The object does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class Cancelled(RuntimeError):
    """A fetch stopped because its caller cancelled it (not a store failure)."""


class PreconditionFailed(StoreError):
    """A generation precondition did not hold: someone else wrote first (HTTP 409 upstream)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a metadata read says about one object."""

    key: str
    size: int
    crc32c: str | None
    generation: int


@dataclass(frozen=True)
class FetchItem:
    """One object to download to ``dest`` (whose parent exists)."""

    key: str
    dest: Path
    size: int
    generation: int = 0  # 0 = unknown (the backend looks it up if it needs it)


@runtime_checkable
class RemoteStore(Protocol):
    """A model bucket: ``gs://…`` (:class:`GCSStore`) or a local directory (:class:`LocalStore`)."""

    url: str

    def stat(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None; one request."""
        ...

    def read(self, key: str) -> tuple[bytes, int]:
        """Content and generation of one object; raises :class:`NotFound`."""
        ...

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        """Store ``data``; ``if_generation_match=0`` = must not exist. Returns the generation."""
        ...

    def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursive), sorted by key."""
        ...

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the immediate "sub-directories" of ``prefix`` (no trailing slash)."""
        ...

    def delete(self, key: str) -> None:
        """Delete one object; a missing object is not an error."""
        ...

    def upload_files(
        self,
        pairs: Sequence[tuple[Path, str]],
        *,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload local files to keys in parallel; ``progress(n_bytes)`` after each file."""
        ...

    def fetch(
        self,
        items: Sequence[FetchItem],
        *,
        workers: int = 8,
        slice_bytes: int = 32 << 20,
        progress: Callable[[int], None] | None = None,
        on_item: Callable[[FetchItem], None] | None = None,
        cancel: threading.Event | None = None,
        on_range: Callable[[FetchItem, int, int, int | None], None] | None = None,
    ) -> None:
        """Download objects in parallel (large ones in slices); raises on the first failure.

        Content is not verified here: the caller checks every file against the manifest. A
        backend may call ``on_range(item, start, end, crc)`` in its worker thread as soon as
        bytes ``[start, end)`` of an item are written (``crc``: their CRC32C, computed from
        the very bytes written, or None when the backend did not see them), and
        ``on_item(item)`` once the whole item is (after its ranges), so the caller can verify
        without reading the bytes again, or while they are still in the page cache, and
        slices in parallel; items it was not called for are verified by the caller
        afterwards. Setting ``cancel`` stops every transfer within one chunk and raises
        :class:`Cancelled`.
        """
        ...
