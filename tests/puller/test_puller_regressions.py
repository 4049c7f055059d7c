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
        daemon.settle()
        _free_like_config_manager(local)
        assert local.is_installed("lin", version), f"promote {version}: not on disk"
        assert daemon.status()["local"]["lin"] == local.installed_versions("lin")
        assert local.read_desired().models["lin"].versions == (version,)  # type: ignore[index]


def test_sync_pass_with_bucket_through_symlink(tmp_path: Path, make_daemon: Any) -> None:
    """Bug: a local-directory bucket reached through a symlink made every sync pass crash
    ("sync pass crashed") in the no-desired.json fallback listing."""
    real = tmp_path / "disk" / "bucket"
    real.mkdir(parents=True)
    (tmp_path / "bucket").symlink_to(real)
    store = open_store(str(tmp_path / "bucket"))
    publish(store, write_model(tmp_path / "src"), "m")
    store.delete("_modelfleet/desired.json")  # the fallback lists the whole bucket
    daemon = make_daemon(str(tmp_path / "bucket"))
    daemon.settle()
    assert daemon.installed == {"m": [1]}
    assert daemon.last_sync.ok is True
    (tmp_path / "l2").mkdir()
    dotted = make_daemon(f"{tmp_path}/disk/../bucket", LOCAL_MODEL_DIRECTORY=tmp_path / "l2")
    dotted.settle()
    assert dotted.installed == {"m": [1]}


def test_local_bucket_gone_keeps_serving_what_the_node_has(
    tmp_path: Path, make_daemon: Any
) -> None:
    """Bug: a local-directory bucket that disappeared (an unmounted disk) read as an empty
    bucket: the fallback listing found no model and the node was told to serve nothing."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    store = open_store(str(bucket))
    publish(store, write_model(tmp_path / "src"), "m")
    daemon = make_daemon(str(bucket))
    daemon.settle()
    before = daemon.local.read_desired().models
    assert before is not None and before["m"].versions == (1,)
    bucket.rename(tmp_path / "unmounted")
    daemon.sync_once()
    assert daemon.last_sync.ok is False and "cannot be reached" in daemon.last_sync.error
    assert daemon.local.read_desired().models == before
    (tmp_path / "unmounted").rename(bucket)  # back: the next pass succeeds
    daemon.sync_once()
    assert daemon.last_sync.ok is True


def test_a_corrupt_slice_of_a_large_file_is_caught(tmp_path: Path, make_daemon: Any) -> None:
    """Slices are checked one by one and joined: a flipped byte in any slice fails the
    version, and nothing is installed."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    store = open_store(str(bucket))
    big = bytes(range(256)) * (12 * 4096)  # 12 MiB: several 1 MiB slices
    publish(store, write_model(tmp_path / "src", {"saved_model.pb": b"pb", "v/big": big}), "m")
    corrupt = bytearray(big)
    corrupt[7 << 20] ^= 0xFF
    (bucket / "m" / "1" / "v" / "big").write_bytes(bytes(corrupt))
    daemon = make_daemon(str(bucket), MODELFLEET_SLICE_SIZE_MB=1, MODELFLEET_DOWNLOAD_WORKERS=4)
    daemon.settle()
    assert daemon.installed == {}
    (error,) = daemon.status()["errors"]
    assert error["reason"] == "checksum" and "v/big" in error["error"]
    (bucket / "m" / "1" / "v" / "big").write_bytes(big)
    daemon.settle(force=True)
    assert daemon.installed == {"m": [1]} and daemon.local.verify("m", 1) is None
