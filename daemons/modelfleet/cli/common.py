"""Helpers shared by CLI modules: settings errors become one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..names import InvalidName
from ..settings import SettingsError
from ..tokens import TokenError

__all__ = ["build_settings", "die", "one_line"]

T = TypeVar("T")
MAX_ERROR_CHARS = 400


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters escaped, cut when very long (an
    error line must not carry a newline or a megabyte of hostile input)."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return safe if len(safe) <= MAX_ERROR_CHARS else safe[: MAX_ERROR_CHARS - 1] + "…"


def die(message: str, code: int = 2) -> NoReturn:
    click.echo(f"modelfleet: error: {one_line(message)}", err=True)
    sys.exit(code)


def build_settings(factory: Callable[..., T], **kwargs: Any) -> T:
    """Call a settings factory; any validation error exits 2 with one clear line."""
    try:
        return factory(**kwargs)
    except (SettingsError, TokenError, InvalidName) as exc:
        die(str(exc))
