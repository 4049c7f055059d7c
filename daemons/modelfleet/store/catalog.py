"""Model-level operations on a store: catalog, manifests, publish, adopt, delete.

These are the functions the master, the CLI and the puller share, so a version is
published, listed and deleted in exactly one way:

- publish uploads every file first and the manifest LAST (with "must not exist"), then
  adds the version to desired.json's ``published`` list (one ``publish`` edit of
  :mod:`modelfleet.desired`);
- delete-version first drops the version from the catalog (the master's ``forget_version``
  edit, refused while it is desired), then :func:`delete_version_objects` removes the
  manifest FIRST (the version stops being complete at once), then the files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# modelfleet.desired is bound as a module and used at call time: it imports the store's base
# types, so either package may be imported first.
from .. import desired as _desired
from ..logsetup import kv
from ..names import InvalidName, parse_version, validate_model_name
from .base import NotFound, PreconditionFailed, RemoteStore, RequestCounter, StoreError
from .gcs import GCSStore
from .local import LocalStore
from .manifest import (
    MANIFEST_NAME,
    InvalidManifest,
    Manifest,
    ManifestFile,
    manifest_from_dir,
    parse_manifest,
)

__all__ = [
    "VersionInfo",
    "adopt",
    "complete_versions",
    "delete_version_objects",
    "list_models",
    "list_versions",
    "open_store",
    "publish",
    "read_manifest",
    "split_version_url",
]

log = logging.getLogger(__name__)


def open_store(
    url: str, *, cloudsdk_config: str | None = None, on_request: RequestCounter | None = None
) -> RemoteStore:
    """A store for ``gs://bucket[/prefix]`` or an absolute local directory."""
    if url.startswith("gs://"):
        return GCSStore(url, cloudsdk_config=cloudsdk_config, on_request=on_request)
    if "://" in url or not os.path.isabs(url):
        raise StoreError(f"remote {url!r} must be gs://bucket[/prefix] or an absolute path")
    return LocalStore(url, on_request=on_request)


def split_version_url(url: str) -> tuple[str, str, int]:
    """``gs://b/p/model/5`` → ``("gs://b/p", "model", 5)``; raises InvalidName."""
    root, _, version = url.rstrip("/").rpartition("/")
    root, _, model = root.rpartition("/")
    if not root or root in ("gs:", "gs:/") or root.endswith(":/"):
        raise InvalidName(f"{url!r} is not <remote>/<model>/<version>")
    return root, validate_model_name(model), parse_version(version)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    complete: bool


def list_models(store: RemoteStore) -> tuple[list[str], list[str]]:
    """Valid model names in the bucket, and the names skipped as invalid (for reports)."""
    good, bad = [], []
    for name in store.list_dirs(""):
        if name == "_modelfleet":
            continue
        try:
            good.append(validate_model_name(name))
        except InvalidName:
            bad.append(name)
    return good, bad


def list_versions(store: RemoteStore, model: str) -> list[VersionInfo]:
    """Every integer version of ``model``, complete or not (one listing)."""
    validate_model_name(model)
    seen: dict[int, bool] = {}
    for obj in store.list_objects(model):
        parts = obj.key.split("/")
        if len(parts) < 3:
            continue
        try:
            version = parse_version(parts[1])
        except InvalidName:
            continue
        complete = len(parts) == 3 and parts[2] == MANIFEST_NAME
        seen[version] = seen.get(version, False) or complete
    return [VersionInfo(v, c) for v, c in sorted(seen.items())]


def complete_versions(store: RemoteStore) -> tuple[dict[str, list[int]], list[str]]:
    """Complete versions of every model from ONE recursive listing (the no-desired fallback).

    Returns the catalog and the keys that were skipped because their names are invalid.
    """
    catalog: dict[str, list[int]] = {}
    bad: set[str] = set()
    for obj in store.list_objects(""):
        parts = obj.key.split("/")
        if parts[0] == "_modelfleet" or len(parts) != 3 or parts[2] != MANIFEST_NAME:
            continue
        try:
            catalog.setdefault(validate_model_name(parts[0]), []).append(parse_version(parts[1]))
        except InvalidName:
            bad.add("/".join(parts[:2]))
    return {m: sorted(v) for m, v in sorted(catalog.items())}, sorted(bad)


def read_manifest(store: RemoteStore, model: str, version: int) -> tuple[Manifest, int]:
    """The checked manifest of a version and its generation.

    Raises :class:`NotFound` (incomplete version) or :class:`InvalidManifest`.
    """
    validate_model_name(model)
    parse_version(version)
    data, generation = store.read(f"{model}/{version}/{MANIFEST_NAME}")
    return parse_manifest(data, model, version), generation


def _add_published(store: RemoteStore, model: str, version: int, created_by: str) -> None:
    """Add a complete version to the catalog (retried on a lost race: publishes commute)."""
    _desired.edit_remote(
        store, _desired.Edit("publish", model, version), updated_by=created_by, attempts=10
    )


def publish(
    store: RemoteStore,
    src: str | os.PathLike[str],
    model: str,
    version: int | None = None,
    *,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
    on_manifest: Callable[[Manifest], None] | None = None,
    created_by: str = "modelfleet publish",
) -> Manifest:
    """Upload a SavedModel directory as ``model``/``version`` (next integer by default).

    Files first, manifest last (must not exist yet), then desired.json's ``published``.
    Raises :class:`StoreError` for a directory that is not a SavedModel or a version that
    already exists, InvalidName for bad names.
    """
    validate_model_name(model)
    root = Path(src)
    if not root.is_dir():
        raise StoreError(f"{root} is not a directory")
    if not (root / "saved_model.pb").is_file():
        raise StoreError(f"{root} is not a SavedModel directory: no saved_model.pb")
    existing = {v.version for v in list_versions(store, model)}
    if version is None:
        version = max(existing, default=0) + 1
    version = parse_version(version)
    if version in existing:
        raise StoreError(f"{store.url}/{model}/{version} already exists; pick another version")
    try:
        manifest = manifest_from_dir(root, model, version, created_by)
    except InvalidManifest as exc:
        raise StoreError(str(exc)) from None
    if on_manifest:
        on_manifest(manifest)
    pairs = [(root / f.path, f"{model}/{version}/{f.path}") for f in manifest.files]
    store.upload_files(pairs, workers=workers, progress=progress)
    _write_manifest(store, manifest)
    _add_published(store, model, version, created_by)
    log.info("published", extra=kv(model=model, version=version, bytes=manifest.total_bytes))
    return manifest


def _write_manifest(store: RemoteStore, manifest: Manifest) -> None:
    key = f"{manifest.model}/{manifest.version}/{MANIFEST_NAME}"
    try:
        store.write(key, manifest.dumps(), if_generation_match=0)
    except PreconditionFailed:
        raise StoreError(
            f"{store.url}/{key} already exists: the version is already complete"
        ) from None


def adopt(
    store: RemoteStore, model: str, version: int, *, created_by: str = "modelfleet publish --adopt"
) -> Manifest:
    """Write the manifest of a version uploaded by other tools, from object metadata.

    On GCS the sizes and CRC32C come from the listing (no download); a local store has no
    stored checksums, so its files are read once.
    """
    validate_model_name(model)
    parse_version(version)
    prefix = f"{model}/{version}/"
    objects = [o for o in store.list_objects(f"{model}/{version}") if o.key.startswith(prefix)]
    if not objects:
        raise StoreError(f"{store.url}/{prefix} holds no files")
    if any(o.key == prefix + MANIFEST_NAME for o in objects):
        raise StoreError(f"{store.url}/{prefix}{MANIFEST_NAME} already exists: nothing to adopt")
    if not any(o.key == prefix + "saved_model.pb" for o in objects):
        raise StoreError(f"{store.url}/{prefix} is not a SavedModel: no saved_model.pb")
    files = []
    for obj in objects:
        crc = obj.crc32c
        if crc is None:
            if not isinstance(store, LocalStore):
                raise StoreError(f"{store.url}/{obj.key} has no crc32c in its metadata")
            from .manifest import crc32c_of_file

            _, crc = crc32c_of_file(store.root / obj.key)
        files.append(ManifestFile(obj.key[len(prefix) :], obj.size, crc))
    try:
        manifest = Manifest.build(model, version, files, created_by)
    except InvalidManifest as exc:
        raise StoreError(str(exc)) from None
    _write_manifest(store, manifest)
    _add_published(store, model, version, created_by)
    log.info("adopted", extra=kv(model=model, version=version, bytes=manifest.total_bytes))
    return manifest


def delete_version_objects(store: RemoteStore, model: str, version: int) -> int:
    """Delete every object of a version: the manifest first, then the files.

    The caller (the master) first drops the version from the catalog with the
    ``forget_version`` edit, which is refused while the version is desired. Returns the
    number of objects deleted; raises NotFound if nothing was there.
    """
    validate_model_name(model)
    parse_version(version)
    prefix = f"{model}/{version}/"
    objects = [o for o in store.list_objects(f"{model}/{version}") if o.key.startswith(prefix)]
    manifest_key = prefix + MANIFEST_NAME
    if not objects:
        raise NotFound(f"{store.url}/{prefix} does not exist")
    store.delete(manifest_key)
    for obj in objects:
        if obj.key != manifest_key:
            store.delete(obj.key)
    return len(objects)
