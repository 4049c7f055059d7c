"""Serving a node daemon under gunicorn, with the daemon living in the worker.

The gunicorn arbiter stays thin on purpose: it imports neither Flask nor the daemon (nor
google-cloud-storage or grpc through it); the worker builds and starts the daemon in
``load()``. If the worker dies, the arbiter forks a new one that rebuilds its state from
disk, and the arbiter's own memory stays a fraction of the daemon's.

Thinner still: ``modelfleet <daemon> run`` parses its flags with click and checks the
settings, then replaces itself (:func:`exec_node`: ``os.execv``, the same PID, so systemd and
tests see one process) with ``python -m modelfleet.node``, which reads the settings again and
becomes the arbiter. The arbiter then holds Python, gunicorn and the settings, not click and
the CLI. That is saved twice: every page the arbiter holds when it forks is counted again in
the worker's RSS. gunicorn's control socket (``gunicornc``, an asyncio thread in the arbiter)
is off: systemd manages these daemons, and the socket is one more way in.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

__all__ = ["exec_node", "load_ref", "main", "serve_gunicorn", "serve_node"]


def load_ref(ref: str) -> Any:
    """``"module:name"`` relative to the modelfleet package (a settings or daemon class, an
    API blueprint factory), imported when called: the arbiter imports only the settings."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"modelfleet.{module}"), name)


def exec_node(
    service: str,
    settings: str,
    daemon: str,
    api: str,
    overrides: Mapping[str, str | bool | None],
) -> NoReturn:
    """Replace this process with the thin arbiter of ``service`` (see the module docstring).

    ``overrides`` are the flags given, keyed by the environment variable each overrides; they
    travel as ``NAME=VALUE`` arguments (never through the environment, so their precedence
    over it is kept). ``-P``: the current directory is not put on ``sys.path``.
    """
    args = [sys.executable, "-P", "-m", "modelfleet.node", service, settings, daemon, api]
    for name, value in overrides.items():
        if value is not None:
            text = ("true" if value else "false") if isinstance(value, bool) else value
            args.append(f"{name}={text}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, args)  # noqa: S606 - our own interpreter, arguments as a list


def main(argv: Sequence[str]) -> None:
    """``python -m modelfleet.node SERVICE SETTINGS DAEMON API [NAME=VALUE ...]``."""
    service, settings_ref, daemon_ref, api_ref, *pairs = argv
    overrides = dict(pair.split("=", 1) for pair in pairs)
    from ..logsetup import configure_logging
    from ..names import InvalidName
    from ..settings import SettingsError
    from ..tokens import TokenError

    try:
        settings = load_ref(settings_ref).from_env(overrides=overrides)
    except (SettingsError, TokenError, InvalidName) as exc:
        # Checked before the exec already: only a file changed in between gets here.
        from ..cli.common import die

        die(str(exc))
    configure_logging(service, settings.log_level)
    serve_node(
        lambda: load_ref(daemon_ref)(settings),
        settings.bind,
        settings.cluster_token,
        api=lambda daemon: load_ref(api_ref)(daemon),
    )


def serve_node(
    make_daemon: Callable[[], Any],
    bind: str,
    cluster_token: str | None,
    *,
    api: Callable[[Any], Any],
) -> None:
    """Build the daemon in the worker with ``make_daemon()``, start it and serve its app
    with the blueprint ``api(daemon)``."""
    holder: dict[str, Any] = {}

    def factory() -> Any:
        from .admin import create_node_app

        daemon = make_daemon()
        daemon.start()
        holder["daemon"] = daemon
        return create_node_app(daemon, cluster_token, api(daemon))

    def on_exit() -> None:
        if "daemon" in holder:
            holder["daemon"].stop()

    serve_gunicorn(factory, bind, on_exit=on_exit)


def serve_gunicorn(
    app_factory: Callable[[], Any],
    bind: str,
    *,
    threads: int = 4,
    graceful_timeout: int = 10,
    on_exit: Callable[[], None] | None = None,
) -> None:
    """Run ``app_factory()`` under gunicorn with one worker (the daemon lives in it)."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": bind,
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads,
                "timeout": 60,
                "graceful_timeout": graceful_timeout,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "modelfleet",
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)
            if on_exit is not None:
                self.cfg.set("worker_exit", lambda _arbiter, _worker: on_exit())

        def load(self) -> Any:
            return app_factory()

    _App().run()
