"""The model bucket: one interface, a GCS backend and a local-directory backend.

Public API (used by the puller, the master and the CLI)::

    store = open_store("gs://bucket/prefix")           # or an absolute local path
    list_models(store) -> (names, invalid_names)
    list_versions(store, model) -> [VersionInfo(version, complete)]
    read_manifest(store, model, version) -> (Manifest, generation)
    delete_version_objects(store, model, version) -> n objects deleted
    publish(store, src_dir, model, version=None) -> Manifest
    adopt(store, model, version) -> Manifest

The desired state (``_modelfleet/desired.json``) has its own domain module,
:mod:`modelfleet.desired`; publish and adopt add to its catalog through it.
"""

from .base import FetchItem, NotFound, ObjectInfo, PreconditionFailed, RemoteStore, StoreError
from .catalog import (
    VersionInfo,
    adopt,
    complete_versions,
    delete_version_objects,
    list_models,
    list_versions,
    open_store,
    publish,
    read_manifest,
    split_version_url,
)
from .gcs import GCSStore
from .local import LocalStore
from .manifest import (
    MANIFEST_NAME,
    InvalidManifest,
    Manifest,
    ManifestFile,
    crc32c_of_file,
    manifest_from_dir,
    parse_manifest,
)

__all__ = [
    "MANIFEST_NAME",
    "FetchItem",
    "GCSStore",
    "InvalidManifest",
    "LocalStore",
    "Manifest",
    "ManifestFile",
    "NotFound",
    "ObjectInfo",
    "PreconditionFailed",
    "RemoteStore",
    "StoreError",
    "VersionInfo",
    "adopt",
    "complete_versions",
    "crc32c_of_file",
    "delete_version_objects",
    "list_models",
    "list_versions",
    "manifest_from_dir",
    "open_store",
    "parse_manifest",
    "publish",
    "read_manifest",
    "split_version_url",
]
