"""Validation of every name that may end up in a filesystem path or a URL.

Model names, versions and zones come from operators, API bodies and a remote bucket that
anyone with write access can fill. They are checked here, once, before they touch a path:
a name that passes can be joined to a directory without escaping it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "MAX_VERSION",
    "InvalidName",
    "parse_version",
    "safe_join",
    "validate_label",
    "validate_model_name",
    "validate_zone",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_VERSION = 2**63 - 1  # TF Serving versions are int64


class InvalidName(ValueError):
    """A model name, version, label, zone or path that must not be used."""


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a safe model name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise InvalidName(
            f"invalid model name {name!r}: use 1-128 of A-Z a-z 0-9 _ . - "
            "starting with a letter or digit, no '..'"
        )
    return name


def validate_zone(zone: object) -> str:
    """Zones are labels in paths and metrics: same rule as model names."""
    if not isinstance(zone, str) or not _NAME_RE.match(zone) or ".." in zone:
        raise InvalidName(f"invalid zone {zone!r}: use 1-128 of A-Z a-z 0-9 _ . -")
    return zone


def validate_label(label: object) -> str:
    """TF Serving version labels (``stable``, ``canary``): lower-case identifiers."""
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise InvalidName(f"invalid version label {label!r}: use a-z 0-9 _ - starting with a-z")
    return label


def parse_version(value: object) -> int:
    """Parse a TF Serving version: a positive int64, as an int or a string of digits.

    Booleans, floats, signs, spaces and leading zeros are refused so that one version has
    exactly one directory name.
    """
    if isinstance(value, bool):
        raise InvalidName(f"invalid version {value!r}: must be a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and value[:1] != "0":
        number = int(value)
    else:
        raise InvalidName(f"invalid version {value!r}: must be a positive integer")
    if not 0 < number <= MAX_VERSION:
        raise InvalidName(f"invalid version {value!r}: must be between 1 and {MAX_VERSION}")
    return number


def safe_join(base: str | os.PathLike[str], *parts: str, resolve: bool = True) -> Path:
    """Join ``parts`` under ``base`` and refuse any result outside ``base``.

    Each part must be a single relative component or a relative path without ``..``; with
    ``resolve`` the result is resolved and checked again so symlinks cannot lead out either.
    ``resolve=False`` is for directories the caller created itself and that can hold no
    symlink (a fresh staging dir): the lexical checks alone then suffice, without one
    ``lstat`` per path component.
    """
    root = Path(base).resolve() if resolve else Path(base)
    candidate = root
    for part in parts:
        if not part or part.startswith("/") or "\x00" in part:
            raise InvalidName(f"invalid path component {part!r}")
        pieces = part.split("/")
        if any(p in ("", ".", "..") for p in pieces):
            raise InvalidName(f"invalid path component {part!r}")
        candidate = candidate.joinpath(*pieces)
    if not resolve:
        return candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise InvalidName(f"path {candidate} escapes {root}")
    return candidate
