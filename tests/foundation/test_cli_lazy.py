"""The CLI imports an area's module only when a command needs it."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from modelfleet.cli import cli


def test_every_command_is_found_and_listed() -> None:
    listed = cli.list_commands(None)  # type: ignore[arg-type]
    assert {"configmanager", "puller", "quarantine", "promote", "sync"} <= set(listed)
    out = CliRunner().invoke(cli, ["--help"])
    assert out.exit_code == 0 and "quarantine" in out.output


def test_node_daemon_command_does_not_load_the_operator_cli() -> None:
    code = (
        "import sys\n"
        "from modelfleet.cli import cli\n"
        "assert cli.get_command(None, 'configmanager') is not None\n"
        "heavy = [m for m in sys.modules if m.startswith(('modelfleet.desired', "
        "'modelfleet.store', 'modelfleet.cli.operator', 'modelfleet.cli.edits', 'requests'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
