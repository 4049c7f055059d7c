"""Regression tests of the store, one per bug (named after it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelfleet.cli import cli
from modelfleet.store import (
    complete_versions,
    delete_version_objects,
    list_versions,
    open_store,
    publish,
)
from tests.support.storeutil import write_model


@pytest.fixture
def linked_bucket(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "disks" / "real-bucket"
    real.mkdir(parents=True)
    link = tmp_path / "bucket"
    link.symlink_to(real)
    return real, link


@pytest.mark.parametrize("spelling", ["symlink", "dotdot"])
def test_local_bucket_through_symlink_or_dotdot_lists_and_deletes_inside_root(
    tmp_path: Path, linked_bucket: tuple[Path, Path], spelling: str
) -> None:
    """Bug: keys were taken relative to the unresolved root, so listing a bucket reached
    through a symlink (or a path with ``..``) raised ValueError in every sync pass."""
    real, link = linked_bucket
    root = str(link) if spelling == "symlink" else f"{real.parent}/../disks/real-bucket"
    store = open_store(root)
    publish(store, write_model(tmp_path / "src"), "m")
    publish(store, write_model(tmp_path / "src"), "m")
    assert complete_versions(store) == ({"m": [1, 2]}, [])
    assert [v.version for v in list_versions(store, "m")] == [1, 2]
    delete_version_objects(store, "m", 1)
    delete_version_objects(store, "m", 2)
    # Pruning empty directories stops at the bucket root, whichever way it was spelled.
    assert real.is_dir() and (real / "_modelfleet" / "desired.json").is_file()
    assert not (real / "m").exists()


def test_publish_adopt_through_symlinked_bucket(
    tmp_path: Path, linked_bucket: tuple[Path, Path]
) -> None:
    """Bug: ``modelfleet publish --adopt`` printed a traceback for such a bucket."""
    real, link = linked_bucket
    src = write_model(tmp_path / "src")
    for path in src.rglob("*"):
        if path.is_file():
            dest = real / "m" / "3" / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    result = CliRunner().invoke(cli, ["publish", "--adopt", f"{link}/m/3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"adopted {link}/m/3: 4 files")
    assert complete_versions(open_store(str(link))) == ({"m": [3]}, [])


def test_publish_adopt_into_an_unwritable_bucket_is_one_line(tmp_path: Path) -> None:
    """An OS error (here: the manifest cannot be written) is one clear line, no traceback."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    version = tmp_path / "bucket" / "m" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"pb")
    version.chmod(0o555)
    try:
        result = CliRunner().invoke(cli, ["publish", "--adopt", f"{tmp_path}/bucket/m/1"])
    finally:
        version.chmod(0o755)
    assert result.exit_code == 1
    assert result.output.startswith("modelfleet: error: ") and "Traceback" not in result.output
