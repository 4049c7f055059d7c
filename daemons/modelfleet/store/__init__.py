"""The model bucket: one interface, a GCS backend and a local-directory backend.

Public API (used by the puller, the master and the CLI)::

    store = open_store("gs://bucket/prefix")           # or an absolute local path
    list_models(store) -> (names, invalid_names)
    list_versions(store, model) -> [VersionInfo(version, complete)]
    read_manifest(store, model, version) -> (Manifest, generation)
    read_desired(store) -> (doc | None, generation)      # generation 0 = no document
    write_desired(store, doc, if_generation_match=g, updated_by=...) -> new generation
    update_desired(store, mutate, updated_by=...) -> (doc, generation)   # retries races
    delete_version(store, model, version, updated_by=...) -> n objects deleted
    publish(store, src_dir, model, version=None) -> Manifest
    adopt(store, model, version) -> Manifest
"""

from .base import FetchItem, NotFound, ObjectInfo, PreconditionFailed, RemoteStore, StoreError
from .catalog import (
    VersionInfo,
    adopt,
    complete_versions,
    delete_version,
    list_models,
    list_versions,
    open_store,
    publish,
    read_manifest,
    split_version_url,
)
from .desired import (
    DESIRED_KEY,
    InvalidDesired,
    check_model_entry,
    empty_desired,
    read_desired,
    served_versions,
    update_desired,
    write_desired,
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
    "DESIRED_KEY",
    "MANIFEST_NAME",
    "FetchItem",
    "GCSStore",
    "InvalidDesired",
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
    "check_model_entry",
    "complete_versions",
    "crc32c_of_file",
    "delete_version",
    "empty_desired",
    "list_models",
    "list_versions",
    "manifest_from_dir",
    "open_store",
    "parse_manifest",
    "publish",
    "read_desired",
    "read_manifest",
    "served_versions",
    "split_version_url",
    "update_desired",
    "write_desired",
]
