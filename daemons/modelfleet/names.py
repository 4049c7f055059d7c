"""The one validator of every name that may end up in a filesystem path, a URL or a config.

Model names, versions, labels, zones and hostnames come from operators (CLI arguments), API
bodies and paths, and a remote bucket that anyone with write access can fill. Every boundary
checks them here — the CLI before any request, the master on path and body, the store, the
puller and the config manager on what they read — so one rule holds everywhere: a name that
passes can be joined to a directory without escaping it and put in a URL path segment as is.

Every rule is a *full* match (``re.fullmatch``): ``$`` would accept a trailing newline, and
``ranker\\n`` would then become a directory, a TF Serving model name and a label.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "HOSTNAME_PATTERN",
    "LABEL_PATTERN",
    "MAX_VERSION",
    "MODEL_NAME_PATTERN",
    "VERSION_PATTERN",
    "InvalidName",
    "parse_version",
    "safe_join",
    "shown",
    "validate_hostname",
    "validate_label",
    "validate_model_name",
    "validate_zone",
    "version_from_json",
]

MAX_VERSION = 2**63 - 1  # TF Serving versions are int64
# Patterns as the OpenAPI document states them (ECMA regexes anchored with ^…$; our own checks
# use re.fullmatch, so a trailing newline never passes).
MODEL_NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
LABEL_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
VERSION_PATTERN = r"^[1-9][0-9]{0,18}$"
HOSTNAME_PATTERN = r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_LABEL_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,18}")
_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")


class InvalidName(ValueError):
    """A model name, version, label, zone, hostname or path that must not be used."""


def shown(value: object, limit: int = 60) -> str:
    """``repr`` of a refused value for a one-line message: control characters escaped, and
    long values cut (an error line must not carry a megabyte of hostile input)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a safe model name, else raise :class:`InvalidName`."""
    if not _is(_NAME_RE, name) or ".." in str(name):
        raise InvalidName(
            f"invalid model name {shown(name)}: use 1-128 of A-Z a-z 0-9 _ . - "
            "starting with a letter or digit, no '..'"
        )
    return str(name)


def validate_zone(zone: object) -> str:
    """Zones are labels in paths and metrics: same rule as model names."""
    if not _is(_NAME_RE, zone) or ".." in str(zone):
        raise InvalidName(f"invalid zone {shown(zone)}: use 1-128 of A-Z a-z 0-9 _ . -")
    return str(zone)


def validate_label(label: object) -> str:
    """TF Serving version labels (``stable``, ``canary``): lower-case identifiers."""
    if not _is(_LABEL_RE, label):
        raise InvalidName(
            f"invalid version label {shown(label)}: use a-z 0-9 _ - starting with a-z"
        )
    return str(label)


def validate_hostname(value: object) -> str:
    """A hostname or IPv4 address the master may call: no scheme, port, path or spaces."""
    if not _is(_HOST_RE, value):
        raise InvalidName(f"invalid hostname {shown(value)}: use 1-253 of A-Z a-z 0-9 _ . -")
    return str(value)


def _in_range(number: int, value: object) -> int:
    if not 0 < number <= MAX_VERSION:
        raise InvalidName(f"invalid version {shown(value)}: must be between 1 and {MAX_VERSION}")
    return number


def parse_version(value: object) -> int:
    """A TF Serving version from text (a directory name, a CLI argument, a URL segment) or an
    int: a positive int64 written with ASCII digits only.

    Signs, spaces, exponents, leading zeros, non-ASCII digits and booleans are refused, so one
    version has exactly one spelling and one directory name.
    """
    if isinstance(value, bool):
        raise InvalidName(f"invalid version {shown(value)}: must be a positive integer")
    if isinstance(value, int):
        return _in_range(value, value)
    if _is(_VERSION_RE, value):
        return _in_range(int(str(value)), value)
    raise InvalidName(
        f"invalid version {shown(value)}: must be a positive integer "
        "(digits only, no sign, exponent or leading zero)"
    )


def version_from_json(value: object) -> int:
    """A version in a JSON document: a JSON number with an integer value (``3`` or ``3.0``,
    as JSON Schema's ``integer``), never a string, a boolean or a fraction."""
    if isinstance(value, float) and value.is_integer():
        return _in_range(int(value), value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidName(f"invalid version {shown(value)}: must be a JSON integer")
    return _in_range(value, value)


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
            raise InvalidName(f"invalid path component {shown(part)}")
        pieces = part.split("/")
        if any(p in ("", ".", "..") for p in pieces):
            raise InvalidName(f"invalid path component {shown(part)}")
        candidate = candidate.joinpath(*pieces)
    if not resolve:
        return candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise InvalidName(f"path {candidate} escapes {root}")
    return candidate
