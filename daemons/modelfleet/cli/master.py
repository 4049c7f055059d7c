"""``modelfleet master run``: the master under gunicorn (the production way)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import build_settings, die

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add this area's commands to the ``modelfleet`` group."""

    @cli.group("master")
    def master() -> None:
        """The master: node registry, cluster operations, remote model state, dashboard."""

    @master.command("run")
    @click.option("--bind", help="HOST:PORT [env MODELFLEET_BIND, default 0.0.0.0:80]")
    @click.option(
        "--state-dir", help="registry, audit log [env MODELFLEET_STATE_DIR, default /app]"
    )
    @click.option(
        "--remote", help="gs://bucket[/prefix] or a local dir [env REMOTE_MODEL_DIRECTORY]"
    )
    @click.option("--threads", type=int, help="gunicorn threads [env MODELFLEET_MASTER_THREADS, 8]")
    @click.option("--check", is_flag=True, help="validate settings and exit")
    def run(
        bind: str | None,
        state_dir: str | None,
        remote: str | None,
        threads: int | None,
        check: bool,
    ) -> None:
        """Serve the master API and dashboard with gunicorn (gunicorn_conf.py in the package)."""
        from ..master.settings import MasterSettings

        overrides = {
            "MODELFLEET_BIND": bind,
            "MODELFLEET_STATE_DIR": state_dir,
            "REMOTE_MODEL_DIRECTORY": remote,
            "MODELFLEET_MASTER_THREADS": threads,
        }
        settings = build_settings(MasterSettings.from_env, overrides=overrides)
        from ..master.registry import check_state_files
        from ..master.statefile import StateFileError

        try:  # a corrupt state file stops the master here, in one line (never a silent reset)
            check_state_files(settings.state_dir)
        except StateFileError as exc:
            die(str(exc), 2)
        if check:
            click.echo(f"settings ok: {settings!r}")
            return
        env = dict(os.environ)
        for key, value in overrides.items():
            if value is not None:
                env[key] = str(value)
        env["MODELFLEET_BIND"] = settings.bind
        conf = Path(__file__).resolve().parent.parent / "master" / "gunicorn_conf.py"
        argv = [sys.executable, "-m", "gunicorn", "-c", str(conf), "modelfleet.master:create_app()"]
        os.execve(sys.executable, argv, env)  # noqa: S606 - replace this process by gunicorn
