"""CLI commands of this area (filled in by the area's owner)."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""
