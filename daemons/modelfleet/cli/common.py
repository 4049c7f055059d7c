"""Helpers shared by CLI modules: settings errors become one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..names import InvalidName
from ..settings import SettingsError
from ..tokens import TokenError

__all__ = ["build_settings", "die"]

T = TypeVar("T")


def die(message: str, code: int = 2) -> NoReturn:
    click.echo(f"modelfleet: error: {message}", err=True)
    sys.exit(code)


def build_settings(factory: Callable[..., T], **kwargs: Any) -> T:
    """Call a settings factory; any validation error exits 2 with one clear line."""
    try:
        return factory(**kwargs)
    except (SettingsError, TokenError, InvalidName) as exc:
        die(str(exc))
