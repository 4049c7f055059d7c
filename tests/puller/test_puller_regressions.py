"""Regression tests, one per bug found in the puller (named after the bug)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelfleet.desired import Edit, edit_remote
from modelfleet.localdir import LocalModelDir
from modelfleet.store import open_store, publish
from tests.support.storeutil import write_model


def _promote(store: Any, model: str, version: int) -> None:
    edit_remote(store, Edit("promote", model, version), updated_by="test")


def _free_like_config_manager(local: LocalModelDir) -> None:
    """What the config manager does once TF Serving unloaded them: free the unwanted."""
    desired = local.read_desired().models or {}
    present, _ = local.scan()
    for model, versions in present.items():
        want = desired.get(model)
        keep = set(want.versions) | set(want.keep) if want else set()
        for version in versions:
            if version not in keep:
                assert local.delete_version(model, version)


def test_promote_2_3_1_2_after_config_manager_freed_versions(
    tmp_path: Path, make_daemon: Any
) -> None:
    """Bug: the puller kept an in-memory list of local versions; once the config manager
    freed v2, ``promote 2`` never pulled it again and every node stayed on v1 with drift."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    store = open_store(str(bucket))
    src = write_model(tmp_path / "src")
    for _ in range(4):
        publish(store, src, "lin")
    daemon = make_daemon(str(bucket))
    local = LocalModelDir(daemon.settings.local_dir)
    for version in (2, 3, 1, 2):
        _promote(store, "lin", version)
        daemon.sync_once()
        _free_like_config_manager(local)
        assert local.is_installed("lin", version), f"promote {version}: not on disk"
        assert daemon.status()["local"]["lin"] == local.installed_versions("lin")
        assert local.read_desired().models["lin"].versions == (version,)  # type: ignore[index]
