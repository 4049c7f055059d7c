"""The master's view of the bucket: models, versions, manifests and the desired state.

A thin adapter over :mod:`modelfleet.store` (``open_store``, ``list_models``,
``list_versions``, ``read_manifest``, ``read_desired``, ``write_desired``,
``delete_version``). Writes of ``_modelfleet/desired.json`` always carry the generation they
were computed from, so a lost race raises :class:`PreconditionFailed` and changes nothing.
The store object is injectable: tests pass a ``LocalStore`` (real preconditions) or a fake.
"""

from __future__ import annotations

from typing import Any

from .. import store as st
from ..store import MANIFEST_NAME, NotFound, PreconditionFailed, RemoteStore, StoreError

__all__ = [
    "MANIFEST_NAME",
    "NotFound",
    "PreconditionFailed",
    "RemoteState",
    "StoreError",
    "open_remote",
]

# Errors of the bucket's content (bad JSON, bad manifest) count as store errors here.
CONTENT_ERRORS = (st.InvalidDesired, st.InvalidManifest)


def open_remote(url: str, cloudsdk_config: str | None = None) -> RemoteState:
    """Open ``gs://bucket[/prefix]`` or an absolute local directory."""
    return RemoteState(st.open_store(url, cloudsdk_config=cloudsdk_config))


class RemoteState:
    """Models, versions, manifests and desired state of one bucket.

    Every method raises :class:`StoreError` (unreachable, refused, bad content) or
    :class:`NotFound`; writes also :class:`PreconditionFailed`.
    """

    def __init__(self, store: RemoteStore) -> None:
        self.store = store

    @property
    def url(self) -> str:
        return self.store.url

    def list_models(self) -> list[str]:
        return st.list_models(self.store)[0]

    def list_versions(self, model: str) -> dict[int, bool]:
        """Version → complete (manifest present)."""
        return {v.version: v.complete for v in st.list_versions(self.store, model)}

    def is_complete(self, model: str, version: int) -> bool:
        return self.store.stat(f"{model}/{version}/{MANIFEST_NAME}") is not None

    def read_manifest(self, model: str, version: int) -> dict[str, Any]:
        try:
            manifest, _ = st.read_manifest(self.store, model, version)
        except CONTENT_ERRORS as exc:
            raise StoreError(str(exc)) from None
        return manifest.to_json()

    def read_desired(self) -> tuple[dict[str, Any], int]:
        """(desired doc, generation); an absent document is empty at generation 0."""
        try:
            doc, generation = st.read_desired(self.store)
        except CONTENT_ERRORS as exc:
            raise StoreError(str(exc)) from None
        return (doc if doc is not None else st.empty_desired()), generation

    def write_desired(
        self, doc: dict[str, Any], if_generation_match: int, updated_by: str = ""
    ) -> int:
        """Write only if the remote is still at ``if_generation_match``; the new generation."""
        try:
            return st.write_desired(
                self.store, doc, if_generation_match=if_generation_match, updated_by=updated_by
            )
        except CONTENT_ERRORS as exc:
            raise StoreError(f"refusing to write an invalid desired state: {exc}") from None

    def delete_version(self, model: str, version: int, updated_by: str) -> int:
        """Delete every object of a version (manifest first); the number deleted."""
        return st.delete_version(self.store, model, version, updated_by=updated_by)
