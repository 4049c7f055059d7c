"""The ``modelfleet`` command line.

Each area owns one module here with a ``register(group)`` function; heavy imports
(google-cloud-storage, grpc, flask) happen inside the commands, and an area module is only
imported when a command is looked up that the areas before it lack (:data:`_AREAS`), so
quick commands such as ``modelfleet healthcheck`` (run by systemd timers) stay fast and a
node daemon's processes
(``modelfleet configmanager run``: the gunicorn arbiter and the worker forked from it) do not
carry the operator CLI, the desired-state domain and the store in memory.

Exit codes: 0 success, 1 the thing checked is unhealthy / the operation failed,
2 bad usage, bad settings or a bad name or version (one line on stderr naming the problem:
click's usage block is not printed, ``--help`` shows it).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from .. import __version__
from .common import one_line

__all__ = ["cli", "main"]

# In lookup order: an area module is imported only when a command is looked up and the
# areas before it did not have it, so the node daemons' areas come first.
_AREAS = (
    "health",
    "puller",
    "configmanager",
    "devserver",
    "tfserving",
    "master",
    "token",
    "publish",
    "operator",
    "fleetops",
    "edits",
    "quarantine",
    "localfleet",
    "loadtest",
)


class OneLineGroup(click.Group):
    """The ``modelfleet`` group: a usage error is one line on stderr and exit code 2.

    Click prints a usage block and "Try --help" around a bad argument; a script reading
    stderr, or an operator at 3 a.m., gets one line naming the problem instead.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        run: Any = super().main
        if not standalone_mode:
            return run(*args, standalone_mode=False, **kwargs)
        try:
            result = run(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message = one_line(exc.format_message())
            if isinstance(exc, click.NoSuchOption) and exc.option_name[1:2].isdigit():
                # "-1" reads as an option to click; to the operator it is a bad version.
                # Click names only the first short option ("-5" of "-5e3"): show the word.
                argv = (args[0] if args else kwargs.get("args")) or sys.argv[1:]
                word = next(
                    (str(a) for a in argv if str(a).startswith(exc.option_name)),
                    exc.option_name,
                )
                message = one_line(
                    f"invalid version {word!r}: must be a positive integer (no sign)"
                )
            click.echo(f"modelfleet: error: {message}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("modelfleet: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


class LazyAreas(OneLineGroup):
    """Imports area modules, in :data:`_AREAS` order, only until a command is found."""

    def _load(self, area: str) -> None:
        loaded = self.__dict__.setdefault("_loaded", set())
        if area not in loaded:
            loaded.add(area)
            importlib.import_module(f"{__name__}.{area}").register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for area in _AREAS:
            if cmd_name in self.commands:
                break
            self._load(area)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for area in _AREAS:
            self._load(area)
        return super().list_commands(ctx)


@click.group(
    cls=LazyAreas,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="modelfleet")
def cli() -> None:
    """Operate a fleet of TensorFlow Serving hosts (puller, config manager, master)."""


def main() -> None:
    cli(prog_name="modelfleet")
