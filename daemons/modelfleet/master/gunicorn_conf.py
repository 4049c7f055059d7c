"""gunicorn settings of the master.

Usage: ``gunicorn -c gunicorn_conf.py 'modelfleet.master:create_app()'``.

``modelfleet master run`` uses this file. One worker with threads, on purpose: the registry of
nodes and the maintenance flags live in the worker's memory (persisted to the state dir), so
every request sees the same registry without a database, and Prometheus metrics need no
``PROMETHEUS_MULTIPROC_DIR``. The master handles < 1 request/s from operators plus node
heartbeats (RUNBOOK); a fan-out runs in an event loop inside the request thread, so a few
threads are plenty. If the worker dies, the arbiter starts a new one that reloads the
registry from the state dir.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("MODELFLEET_BIND", "0.0.0.0:80")
workers = 1  # see the module docstring: the registry lives in this one worker
worker_class = "gthread"
threads = int(os.environ.get("MODELFLEET_MASTER_THREADS", "8"))
timeout = 60  # a fan-out is bounded by MODELFLEET_FANOUT_DEADLINE (3 s) well below this
graceful_timeout = 20
keepalive = 5
max_requests = 0  # never recycle the worker: it holds the registry
accesslog = None  # tokens are in headers only, but keep access logs off the journal anyway
errorlog = "-"
loglevel = "warning"
proc_name = "modelfleet-master"
preload_app = False


def post_fork(server: Any, worker: Any) -> None:
    # Logging before the app loads its state: what loading says is a JSON line too.
    from modelfleet.logsetup import configure_logging

    configure_logging("master", os.environ.get("MODELFLEET_LOG_LEVEL", "INFO"))


def post_worker_init(worker: Any) -> None:
    from modelfleet.master.http_errors import install

    # gunicorn's own 400/414/431 answers in the JSON error shape, audited like the app's.
    install(worker, worker.wsgi.extensions["modelfleet"].audit)


def worker_exit(server: Any, worker: Any) -> None:
    # Flush heartbeat timestamps of the registry on a graceful stop.
    try:
        app = worker.wsgi
        app.extensions["modelfleet"].registry.close()
    except Exception:  # noqa: S110 - best effort at exit; the registry is rebuilt anyway
        pass
