"""Helpers for store and puller tests: fake SavedModel trees and stores for both backends."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelfleet.desired import ModelEntry, read_remote, write_remote
from modelfleet.localdir import LocalModelDir
from modelfleet.store import RemoteStore, manifest_from_dir, open_store


def write_model(root: Path, files: dict[str, bytes] | None = None, seed: int = 0) -> Path:
    """A directory that looks like a SavedModel: saved_model.pb + variables/ (random bytes)."""
    files = files or {
        "saved_model.pb": os.urandom(2048 + seed),
        "variables/variables.index": os.urandom(64),
        "variables/variables.data-00000-of-00001": os.urandom(10_000 + seed),
        "assets/vocab.txt": b"a\nb\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file under root, by relative path (what "exact bytes" compares)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def make_store(kind: str, tmp_path: Path, gcs_bucket_url: str | None = None) -> RemoteStore:
    if kind == "local":
        root = tmp_path / "bucket"
        root.mkdir(exist_ok=True)
        return open_store(str(root))
    assert gcs_bucket_url
    return open_store(gcs_bucket_url + "/models")


def set_desired(store: RemoteStore, model: str, **fields: Any) -> int:
    """Set fields of one model's desired entry directly in the bucket (a test's shortcut
    around the edits; the document is still validated and generation-checked)."""
    current = read_remote(store)
    state = current.state_or_empty
    entry = replace(state.entry(model) or ModelEntry(), **fields)
    return write_remote(
        store,
        state.with_entry(model, entry),
        if_generation_match=current.generation,
        updated_by="test",
    )


def install_local(
    local_root: Path, model: str, version: int, files: dict[str, bytes] | Path
) -> Path:
    """Install a version into a LOCAL_MODEL_DIRECTORY exactly as the puller does.

    ``files`` is a tree to copy or a mapping of relative path to content. The version gets
    its verified manifest and lands with one rename, so it counts as installed.
    """
    local = LocalModelDir(local_root)
    staging = local.new_staging(model, version)
    if isinstance(files, Path):
        shutil.copytree(files, staging, dirs_exist_ok=True)
    else:
        write_model(staging, files)
    manifest = manifest_from_dir(staging, model, version, "tests")
    return local.install(staging, manifest, fsync=False)
