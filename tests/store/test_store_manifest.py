"""Manifest encoding and the checks that keep bad remote content out."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import google_crc32c
import pytest

from modelfleet.store.manifest import (
    InvalidManifest,
    crc32c_of_file,
    manifest_from_dir,
    parse_manifest,
)


def test_crc32c_is_gcs_encoding(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    size, crc = crc32c_of_file(path)
    expected = base64.b64encode(google_crc32c.value(b"hello").to_bytes(4, "big")).decode()
    assert (size, crc) == (5, expected)
    assert crc == "mnG7TA=="  # what GCS reports for b"hello"


def test_round_trip(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"pb")
    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "v.index").write_bytes(b"idx")
    manifest = manifest_from_dir(tmp_path, "m", 3)
    parsed = parse_manifest(manifest.dumps(), "m", 3)
    assert parsed.files == manifest.files
    doc = json.loads(manifest.dumps())
    assert doc["total_bytes"] == 5 and [f["path"] for f in doc["files"]] == [
        "saved_model.pb",
        "variables/v.index",
    ]


def _doc(**over: object) -> bytes:
    doc = {
        "schema": 1,
        "model": "m",
        "version": 1,
        "files": [{"path": "saved_model.pb", "size": 1, "crc32c": "AAAAAA=="}],
    }
    doc.update(over)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        _doc(schema=2),
        _doc(model="other"),
        _doc(version=2),
        _doc(files=[]),
        _doc(files=[{"path": "../x", "size": 1, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "/etc/passwd", "size": 1, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "a//b", "size": 1, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "_modelfleet.json", "size": 1, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "x", "size": -1, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "x", "size": True, "crc32c": "AAAAAA=="}]),
        _doc(files=[{"path": "x", "size": 1, "crc32c": "nope"}]),
        _doc(files=[{"path": "x", "size": 1, "crc32c": "AAAAAA=="}] * 2),
        _doc(
            files=[
                {"path": "a", "size": 1, "crc32c": "AAAAAA=="},
                {"path": "a/b", "size": 1, "crc32c": "AAAAAA=="},
            ]
        ),
    ],
)
def test_bad_manifests_refused(data: bytes) -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(data, "m", 1)


def test_crc32c_of_slices_combines_to_the_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What lets the puller check a large file slice by slice as the slices land."""
    import base64
    import itertools
    import os
    import random

    from modelfleet.store.manifest import (
        crc32c_combine,
        crc32c_of_file,
        crc32c_of_range,
    )

    data = os.urandom(300_001)
    path = tmp_path / "f"
    path.write_bytes(data)
    cuts = sorted({0, len(data), *random.Random(3).sample(range(len(data)), 7)})
    fd = os.open(path, os.O_RDONLY)
    try:
        crc = 0
        for start, end in itertools.pairwise(cuts):
            crc = crc32c_combine(crc, crc32c_of_range(fd, start, end), end - start)
    finally:
        os.close(fd)
    assert base64.b64encode(crc.to_bytes(4, "big")).decode() == crc32c_of_file(path)[1]
    assert crc32c_combine(crc, 0, 0) == crc
