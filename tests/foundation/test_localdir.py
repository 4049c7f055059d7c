"""LOCAL_MODEL_DIRECTORY: what "installed" means, the local desired document, trash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelfleet.localdir import (
    DesiredModel,
    LocalDesired,
    LocalModelDir,
    parse_desired,
)
from modelfleet.names import InvalidName
from modelfleet.store import MANIFEST_NAME
from tests.support.storeutil import install_local

FILES = {"saved_model.pb": b"pb" * 100, "variables/variables.index": b"idx"}


@pytest.fixture
def local(tmp_path: Path) -> LocalModelDir:
    root = tmp_path / "local"
    root.mkdir()
    return LocalModelDir(root)


def test_installed_needs_the_manifest_and_every_file(local: LocalModelDir) -> None:
    install_local(local.root, "m", 1, FILES)
    install_local(local.root, "m", 2, FILES)
    install_local(local.root, "m", 3, FILES)
    install_local(local.root, "m", 4, FILES)
    (local.root / "m" / "5" / "variables").mkdir(parents=True)  # hand-copied: no manifest
    (local.root / "m" / "5" / "saved_model.pb").write_bytes(b"pb")
    (local.root / "m" / "2" / "variables" / "variables.index").unlink()
    (local.root / "m" / "3" / "saved_model.pb").write_bytes(b"short")
    manifest = json.loads((local.root / "m" / "4" / MANIFEST_NAME).read_text())
    manifest["version"] = 9  # the manifest of another version
    (local.root / "m" / "4" / MANIFEST_NAME).write_text(json.dumps(manifest))
    present, problems = local.scan()
    assert present == {"m": [1]}
    text = "\n".join(problems)
    assert "m/2: variables/variables.index is missing" in text
    assert "m/3: saved_model.pb is not a regular file of 200 bytes" in text
    assert "m/4: bad _modelfleet.json" in text
    assert f"m/5: no {MANIFEST_NAME}" in text
    assert local.is_installed("m", 1) and not local.is_installed("m", 5)
    assert local.installed_versions("m") == [1]


def test_symlinks_and_bad_names_are_never_installed(local: LocalModelDir, tmp_path: Path) -> None:
    real = install_local(tmp_path / "elsewhere", "m", 1, FILES)
    (local.root / "m").mkdir()
    (local.root / "m" / "1").symlink_to(real)
    (local.root / "m" / "01").mkdir()
    (local.root / "bad name").mkdir()
    (local.root / "file").write_text("x")
    present, problems = local.scan()
    assert present == {}
    assert len(problems) == 4
    assert any("m/1: is not a directory" in p for p in problems)
    with pytest.raises(InvalidName):
        local.version_path("../x", 1)


def test_verify_catches_flipped_bytes(local: LocalModelDir) -> None:
    path = install_local(local.root, "m", 1, FILES)
    assert local.verify("m", 1) is None
    data = (path / "saved_model.pb").read_bytes()
    (path / "saved_model.pb").write_bytes(bytes([data[0] ^ 1]) + data[1:])
    assert local.is_installed("m", 1)  # same size: the cheap check cannot tell
    assert "crc32c" in (local.verify("m", 1) or "")
    assert local.verify("m", 2) == "m/2 is not installed"


def test_install_refuses_to_replace(local: LocalModelDir) -> None:
    install_local(local.root, "m", 1, FILES)
    with pytest.raises(OSError):
        install_local(local.root, "m", 1, {"saved_model.pb": b"other"})
    assert (local.root / "m" / "1" / "saved_model.pb").read_bytes() == FILES["saved_model.pb"]


def test_an_installed_version_is_readable_by_another_user(local: LocalModelDir) -> None:
    """TF Serving runs as its own user: the staging directory's 0700 must not survive."""
    path = install_local(local.root, "m", 1, FILES)
    assert path.stat().st_mode & 0o777 == 0o755


def test_prepare_wipes_staging(local: LocalModelDir) -> None:
    left = local.new_staging("m", 1)
    (left / "half").write_bytes(b"x")
    assert local.prepare() == 1
    assert list(local.staging.iterdir()) == []
    with pytest.raises(ValueError):
        local.discard_staging(local.root)


def test_desired_document_round_trip_and_idempotent_write(local: LocalModelDir) -> None:
    doc = LocalDesired(
        {"m": DesiredModel((3,), (("stable", 3),), (2,)), "n": DesiredModel((1, 2))},
        source="gs://b/p",
        source_generation=17,
    )
    assert local.read_desired().models is None and local.read_desired().error == ""
    assert local.write_desired(doc) is True
    stat = local.desired_path.stat()
    assert local.write_desired(doc) is False  # same content: not rewritten, no wake-up
    assert local.desired_path.stat().st_mtime_ns == stat.st_mtime_ns
    raw = json.loads(local.desired_path.read_text())
    assert raw["models"]["m"] == {"versions": [3], "labels": {"stable": 3}, "keep": [2]}
    assert raw["generated_at"]
    state = local.read_desired()
    assert state.models == dict(doc.models) and state.doc is not None
    assert state.doc.same_content(doc) and state.doc.source_generation == 17


def test_desired_document_problems(local: LocalModelDir) -> None:
    state = parse_desired(
        {
            "schema": 1,
            "models": {
                "good": {"versions": [1]},
                "../evil": {"versions": [1]},
                "bad": {"versions": ["01"]},
                "worse": {"versions": 5},
            },
        }
    )
    assert state.models == {"good": DesiredModel((1,))}
    assert len(state.problems) == 3
    assert parse_desired({"schema": 2}).error
    local.meta.mkdir()
    local.desired_path.write_text("{broken")
    assert local.read_desired().models is None and "unreadable" in local.read_desired().error


def test_delete_goes_through_trash_and_removes_empty_model(local: LocalModelDir) -> None:
    install_local(local.root, "m", 1, FILES)
    assert local.delete_version("m", 1) is True
    assert not (local.root / "m").exists()
    assert list(local.trash.iterdir()) == []
    assert local.delete_version("m", 1) is False
    leftover = local.trash / "m.2.abcd"
    leftover.mkdir()
    local.clean_trash()
    assert not leftover.exists()


def test_scan_reads_the_disk_every_time(local: LocalModelDir) -> None:
    install_local(local.root, "m", 1, FILES)
    assert local.scan()[0] == {"m": [1]}
    os.rename(local.root / "m" / "1", local.root / "gone")
    assert local.scan()[0] == {}
