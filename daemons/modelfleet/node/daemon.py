"""The node daemon skeleton: loops, wake/stop, heartbeats, crash handling, registration.

remote_model_puller and config_manager are the same machine around different passes: a
thread that runs a reconcile pass every ``poll_interval`` seconds or at once when woken,
survives anything a pass raises, beats the health file after every pass (so a hung loop
fails its healthcheck and gets restarted), and registers with the master off the serving
path. That machine lives here once.

How to build a node daemon on it:

1. **Settings**: subclass :class:`modelfleet.settings.NodeSettings` (the fields every node
   daemon shares are declared there once); ``from_env`` starts with
   ``**NodeSettings.read(reader, "0.0.0.0:<port>")`` and adds the daemon's own fields.
2. **Domain class**: subclass :class:`NodeDaemon`, set ``service`` (the RUNBOOK name), call
   ``super().__init__(settings, registry)`` with the daemon's Prometheus registry, and add
   each loop with ``self.add_loop("name", self.run_pass)``. A pass is
   ``run_pass(force: bool) -> tuple[bool, str] | None`` (``(ok, detail)`` for the health
   file; ``None`` = ok). Override :meth:`NodeDaemon.recover` (rebuild in-memory state from
   disk; runs in :meth:`~NodeDaemon.start` before any loop) and :meth:`NodeDaemon.ready`.
   Wake a loop with ``self.loops["name"].wake(force=True)``; a long pass may call
   ``loop.beat(detail)`` to stay fresh. The domain class imports no web framework.
3. **HTTP**: the daemon's ``/api/v1`` endpoints are a function ``blueprint(daemon) ->
   Routes`` (:mod:`.web`) in ``<package>/api.py``, named as
   ``api="<package>.api:blueprint"`` in its CLI table (:mod:`modelfleet.cli.nodecmd`);
   :mod:`.admin` adds ``/healthz``, ``/readyz``, ``/metrics`` and the cluster-token check,
   :mod:`.server` runs it all under gunicorn with the daemon living in the worker.
4. **Status**: include :meth:`NodeDaemon.master_status` (registration state) in the
   daemon's status document (:mod:`modelfleet.contracts.node`).

Tests drive passes directly (``daemon.recover(); daemon.run_pass(force=False)``) or start
the loops with :meth:`~NodeDaemon.start` and wait on conditions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry

from ..logsetup import kv
from ..settings import NodeSettings
from .health import HealthFile
from .registration import Registrar

__all__ = ["NodeDaemon", "PassLoop", "PassOutcome"]

log = logging.getLogger(__name__)

PassOutcome = tuple[bool, str] | None
"""What a pass returns: ``(ok, detail)`` for the health file, or None for "ok"."""


class PassLoop:
    """One thread running ``run_pass`` every ``interval()`` seconds or when woken."""

    def __init__(
        self,
        name: str,
        run_pass: Callable[[bool], PassOutcome],
        *,
        health: HealthFile,
        interval: Callable[[], float],
        max_age: Callable[[], float],
    ) -> None:
        self.name = name
        self._run_pass = run_pass
        self._health = health
        self._interval = interval
        self._max_age = max_age
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._force = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.first_pass_done = threading.Event()
        self.passes = 0
        self.last_error = ""  # the last crash, "" after a pass that did not crash
        self._last_beat = 0.0

    def wake(self, force: bool = False) -> None:
        """Run a pass now (``force``: the pass may ignore caches and backoffs)."""
        with self._lock:
            self._force = self._force or force
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def run_once(self, force: bool = False) -> PassOutcome:
        """One pass with crash handling and a heartbeat (what the thread does each time)."""
        try:
            outcome = self._run_pass(force)
            self.last_error = ""
        except Exception as exc:  # the loop must survive anything; health shows it
            log.exception("pass crashed", extra=kv(loop=self.name))
            self.last_error = f"pass crashed: {type(exc).__name__}: {exc}"
            outcome = (False, self.last_error)
        ok, detail = outcome if outcome is not None else (True, "")
        self._beat(ok, detail)
        # Counted once its heartbeat is written: whoever waits on a pass sees its health too.
        self.passes += 1
        self.first_pass_done.set()
        return outcome

    def beat(self, detail: str = "") -> None:
        """Keep the heartbeat fresh during a long pass (at most one write per second)."""
        if time.monotonic() - self._last_beat > 1.0:
            self._beat(True, detail)

    def _beat(self, ok: bool, detail: str) -> None:
        self._last_beat = time.monotonic()
        self._health.beat(self.name, ok=ok, detail=detail, max_age=self._max_age())

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                force, self._force = self._force, False
            self._wake.clear()
            self.run_once(force)
            self._wake.wait(self._interval())


class NodeDaemon:
    """Base of every node daemon; see the module docstring for how to build one."""

    service: ClassVar[str]

    def __init__(self, settings: NodeSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.health = HealthFile(settings.state_dir, self.service)
        self.registrar = Registrar(
            master_url=settings.master_url,
            token=settings.cluster_token,
            hostname=settings.hostname,
            service=self.service,
            port=settings.advertise_port,
            zone=settings.zone,
            interval=settings.heartbeat_interval,
            ca_file=settings.master_ca_file,
        )
        self.loops: dict[str, PassLoop] = {}

    def add_loop(
        self,
        name: str,
        run_pass: Callable[[bool], PassOutcome],
        *,
        interval: Callable[[], float] | None = None,
        max_age: Callable[[], float] | None = None,
    ) -> PassLoop:
        """Add a loop, started by :meth:`start`. ``interval`` defaults to ``poll_interval``;
        ``max_age`` (how long a heartbeat stays fresh) to ``max(60, 3 * interval)``."""
        every = interval or (lambda: self.settings.poll_interval)
        loop = PassLoop(
            name,
            run_pass,
            health=self.health,
            interval=every,
            max_age=max_age or (lambda: max(60.0, 3 * every())),
        )
        self.loops[name] = loop
        return loop

    # -- lifecycle (the admin server's NodeDaemon protocol) --------------------------------

    def recover(self) -> None:
        """Rebuild in-memory state from disk before any loop runs (override)."""

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: override; by default ready once every loop finished a pass."""
        waiting = [n for n, loop in self.loops.items() if not loop.first_pass_done.is_set()]
        if waiting:
            return False, f"first pass of {', '.join(waiting)} not finished"
        return True, "ok"

    def start(self) -> None:
        self.recover()
        for loop in self.loops.values():
            loop.start()
        self.registrar.start()
        log.info("started", extra=kv(service=self.service, loops=sorted(self.loops)))

    def stop(self) -> None:
        self.registrar.stop()
        for loop in self.loops.values():
            loop.stop()

    def master_status(self) -> dict[str, Any] | None:
        """Registration with the master, for status documents; None when not configured."""
        if not self.settings.master_url:
            return None
        return {
            "url": self.settings.master_url,
            "registered": self.registrar.registered,
            "error": self.registrar.last_error,
        }
