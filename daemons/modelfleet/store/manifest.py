"""The ``_modelfleet.json`` manifest: what makes a remote version complete and checkable.

It is written last by ``modelfleet publish`` (or ``--adopt``), so a version without one is
still being uploaded and is never pulled. It lists every file with its size and CRC32C in
GCS's encoding (base64 of the big-endian 4 bytes), which lets a node verify each byte it
downloaded against what the publisher read, with the same checksum GCS keeps per object.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c

from ..names import InvalidName, parse_version, validate_model_name

__all__ = [
    "MANIFEST_NAME",
    "InvalidManifest",
    "Manifest",
    "ManifestFile",
    "crc32c_b64",
    "crc32c_combine",
    "crc32c_of_file",
    "crc32c_of_range",
    "manifest_from_dir",
    "parse_manifest",
    "validate_rel_path",
]

MANIFEST_NAME = "_modelfleet.json"
_CHUNK = 1 << 20  # the smallest read for which the C crc32c releases the GIL


class InvalidManifest(ValueError):
    """A manifest that cannot be trusted: the version is reported and skipped."""


def crc32c_b64(value: int) -> str:
    return base64.b64encode(value.to_bytes(4, "big")).decode()


_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order), as in zlib's crc32_combine."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()  # x^(2^k) mod p


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32C of A+B from CRC32C(A), CRC32C(B) and len(B): slices of one file are checked
    as they land, in parallel, and their checksums joined without reading the file again."""
    p, n, k = 1 << 31, len2, 3  # x^0; multiply by x^(8 * len2)
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


def crc32c_of_range(fd: int, start: int, end: int) -> int:
    """CRC32C (as an int) of bytes ``[start, end)`` of an open file, read in chunks."""
    crc = 0
    offset = start
    while offset < end:
        chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
        if not chunk:
            raise OSError(f"file ends at {offset}, before {end}")
        crc = google_crc32c.extend(crc, chunk)
        offset += len(chunk)
    return crc


def crc32c_of_file(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Size and base64 CRC32C of a file, streamed (models can be many GB)."""
    checksum = google_crc32c.Checksum()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(_CHUNK):
            checksum.update(chunk)
            size += len(chunk)
    return size, base64.b64encode(checksum.digest()).decode()


def validate_rel_path(path: object) -> str:
    """A manifest file path: relative, ``/``-separated, no ``..``, not the manifest itself."""
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in path.split("/"))
        or path == MANIFEST_NAME
        or len(path) > 1024
    ):
        raise InvalidManifest(f"invalid file path {path!r} in manifest")
    return path


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    crc32c: str


@dataclass(frozen=True)
class Manifest:
    model: str
    version: int
    files: tuple[ManifestFile, ...]
    created_at: str = ""
    created_by: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The document's shape is defined once, by the contract the master serves it under.

        Imported here, not at module level: node daemons parse manifests but never write one,
        and keep the contracts' import cost out of their memory.
        """
        from ..contracts.master_api import ManifestFileView, ManifestView
        from ..contracts.schema import to_json

        doc: dict[str, Any] = to_json(
            ManifestView(
                schema=1,
                model=self.model,
                version=self.version,
                created_at=self.created_at,
                created_by=self.created_by,
                total_bytes=self.total_bytes,
                files=tuple(ManifestFileView(f.path, f.size, f.crc32c) for f in self.files),
            )
        )
        return doc

    def dumps(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()

    @classmethod
    def build(
        cls, model: str, version: int, files: Iterable[ManifestFile], created_by: str
    ) -> Manifest:
        ordered = tuple(sorted(files, key=lambda f: f.path))
        for f in ordered:
            validate_rel_path(f.path)
        return cls(
            model=validate_model_name(model),
            version=parse_version(version),
            files=ordered,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            created_by=created_by,
        )


def parse_manifest(data: bytes, model: str, version: int) -> Manifest:
    """Parse and check a manifest for ``model``/``version``; raises :class:`InvalidManifest`."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidManifest(f"manifest is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise InvalidManifest("manifest has no schema 1")
    if doc.get("model") != model or doc.get("version") != version:
        raise InvalidManifest(
            f"manifest is for {doc.get('model')!r}/{doc.get('version')!r}, not {model}/{version}"
        )
    raw_files = doc.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        raise InvalidManifest("manifest lists no files")
    files = []
    seen: set[str] = set()
    for entry in raw_files:
        if not isinstance(entry, dict):
            raise InvalidManifest("manifest file entry is not an object")
        path = validate_rel_path(entry.get("path"))
        size, crc = entry.get("size"), entry.get("crc32c")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidManifest(f"invalid size for {path!r}")
        if not isinstance(crc, str) or len(_b64(crc, path)) != 4:
            raise InvalidManifest(f"invalid crc32c for {path!r}")
        if path in seen:
            raise InvalidManifest(f"file {path!r} listed twice")
        seen.add(path)
        files.append(ManifestFile(path, size, crc))
    # A file path that is also a directory of another entry cannot be laid out on disk.
    dirs = {"/".join(p.split("/")[:i]) for p in seen for i in range(1, p.count("/") + 1)}
    if clash := dirs & seen:
        raise InvalidManifest(f"path {sorted(clash)[0]!r} is both a file and a directory")
    try:
        validate_model_name(model)
        parse_version(version)
    except InvalidName as exc:
        raise InvalidManifest(str(exc)) from None
    return Manifest(
        model=model,
        version=version,
        files=tuple(sorted(files, key=lambda f: f.path)),
        created_at=str(doc.get("created_at", "")),
        created_by=str(doc.get("created_by", "")),
    )


def _b64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidManifest(f"invalid crc32c for {path!r}") from None


def manifest_from_dir(
    src: Path, model: str, version: int, created_by: str = "modelfleet publish"
) -> Manifest:
    """Manifest of a local SavedModel directory; refuses symlinks and special files."""
    files = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            full = Path(dirpath) / name
            rel = full.relative_to(src).as_posix()
            if full.is_symlink() or not full.is_file():
                raise InvalidManifest(f"{full} is not a regular file (symlinks are refused)")
            if rel == MANIFEST_NAME:
                raise InvalidManifest(f"{full}: {MANIFEST_NAME} is reserved for modelfleet")
            size, crc = crc32c_of_file(full)
            files.append(ManifestFile(validate_rel_path(rel), size, crc))
    return Manifest.build(model, version, files, created_by)
