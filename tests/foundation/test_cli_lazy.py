"""The CLI imports an area's module only when one of its commands runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from modelfleet.cli import _AREAS, COMMANDS


def test_command_table_is_complete() -> None:
    group = click.Group()
    owners: dict[str, str] = {}
    for area in _AREAS:
        before = set(group.commands)
        importlib.import_module(f"modelfleet.cli.{area}").register(group)
        owners.update(dict.fromkeys(set(group.commands) - before, area))
    assert owners == COMMANDS


def test_node_daemon_command_does_not_load_the_operator_cli() -> None:
    code = (
        "import sys\n"
        "from modelfleet.cli import cli\n"
        "assert cli.get_command(None, 'configmanager') is not None\n"
        "heavy = [m for m in sys.modules if m.startswith(('modelfleet.desired', "
        "'modelfleet.store', 'modelfleet.contracts', 'modelfleet.cli.operator', 'requests'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
