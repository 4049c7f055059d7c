"""The master's view of the bucket: models, versions, manifests and the desired state.

A thin adapter over :mod:`modelfleet.store` and :mod:`modelfleet.desired`: every edit of
``_modelfleet/desired.json`` goes through :func:`modelfleet.desired.edit_remote` (read with
its generation, one pure edit, one write under the precondition), exactly as the CLI's
``--direct`` path does. Errors of the bucket's content (a broken document or manifest) are
reported as :class:`StoreError`, like an unreachable bucket. The store object is
injectable: tests pass a ``LocalStore`` (real preconditions) or a fake.
"""

from __future__ import annotations

from typing import Any

from .. import desired as ds
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


def open_remote(url: str, cloudsdk_config: str | None = None) -> RemoteState:
    """Open ``gs://bucket[/prefix]`` or an absolute local directory."""
    return RemoteState(st.open_store(url, cloudsdk_config=cloudsdk_config))


class RemoteState:
    """Models, versions, manifests and desired state of one bucket.

    Every method raises :class:`StoreError` (unreachable, refused, bad content) or
    :class:`NotFound`; edits also :class:`PreconditionFailed` and
    :class:`~modelfleet.desired.EditError`.
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

    def read_manifest(self, model: str, version: int) -> dict[str, Any]:
        try:
            manifest, _ = st.read_manifest(self.store, model, version)
        except st.InvalidManifest as exc:
            raise StoreError(str(exc)) from None
        return manifest.to_json()

    def read_remote(self) -> ds.RemoteDesired:
        """The desired state with its generation (an absent document: None at 0)."""
        try:
            return ds.read_remote(self.store)
        except ds.InvalidDesired as exc:
            raise StoreError(str(exc)) from None

    def edit(
        self, edit: ds.Edit, *, updated_by: str, if_generation: int | None = None
    ) -> ds.EditResult:
        """Apply one edit under the generation precondition (a lost race is not retried:
        the operator decided on the state they saw)."""
        try:
            return ds.edit_remote(
                self.store, edit, updated_by=updated_by, if_generation=if_generation
            )
        except ds.InvalidDesired as exc:
            raise StoreError(f"desired state in the bucket is unusable: {exc}") from None

    def delete_version_objects(self, model: str, version: int) -> int:
        """Delete every object of a version (manifest first); the number deleted."""
        return st.delete_version_objects(self.store, model, version)
