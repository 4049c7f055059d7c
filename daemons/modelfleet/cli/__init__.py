"""The ``modelfleet`` command line.

Each area owns one module here with a ``register(group)`` function; heavy imports
(google-cloud-storage, grpc, flask) happen inside the commands, so quick commands such as
``modelfleet healthcheck`` (run by systemd timers) stay fast.

Exit codes: 0 success, 1 the thing checked is unhealthy / the operation failed,
2 bad usage or bad settings (one line on stderr naming the problem).
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

__all__ = ["cli", "main"]

_AREAS = (
    "health",
    "puller",
    "publish",
    "configmanager",
    "devserver",
    "master",
    "operator",
    "quarantine",
    "localfleet",
    "loadtest",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="modelfleet")
def cli() -> None:
    """Operate a fleet of TensorFlow Serving hosts (puller, config manager, master)."""


for _area in _AREAS:
    importlib.import_module(f"{__name__}.{_area}").register(cli)


def main() -> None:
    cli(prog_name="modelfleet")
