"""Serving a node daemon under gunicorn, with the daemon living in the worker.

The gunicorn arbiter stays thin on purpose: it imports neither Flask nor the daemon (nor
google-cloud-storage or grpc through it); the worker builds and starts the daemon in
``load()``. If the worker dies, the arbiter forks a new one that rebuilds its state from
disk, and the arbiter's own memory stays a fraction of the daemon's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["serve_gunicorn", "serve_node"]


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
            }
            for key, value in settings.items():
                self.cfg.set(key, value)
            if on_exit is not None:
                self.cfg.set("worker_exit", lambda _arbiter, _worker: on_exit())

        def load(self) -> Any:
            return app_factory()

    _App().run()
