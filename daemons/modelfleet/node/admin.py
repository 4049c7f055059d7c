"""The admin HTTP server of a node daemon: a small WSGI app (:mod:`.web`) under gunicorn.

Every node daemon (remote_model_puller on 8001, config_manager on 8002) serves:

- ``/healthz`` — liveness from the heartbeat file (see :mod:`.health`), no auth;
- ``/readyz`` — the daemon's own readiness (e.g. TF Serving answers), no auth;
- ``/metrics`` — Prometheus text from the daemon's own registry, no auth;
- ``/api/v1/...`` — the daemon's routes (built outside the domain class, see
  :mod:`.daemon`); every call needs the cluster token (``Authorization: Bearer …``),
  compared in constant time.

The daemon object is created and started inside the gunicorn worker (one worker, a few
threads), so its loops and its HTTP handlers share memory. If the worker dies, gunicorn's
arbiter starts a new one and the daemon rebuilds its state from disk.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..tokens import tokens_equal
from .health import HealthFile, check_health
from .web import App, Request, Response, Routes, json_error, json_response

__all__ = ["NodeDaemon", "create_node_app", "json_error"]

log = logging.getLogger(__name__)


class NodeDaemon(Protocol):
    """What the admin server needs from a daemon."""

    service: str
    registry: CollectorRegistry
    health: HealthFile

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ready(self) -> tuple[bool, str]: ...


def create_node_app(daemon: NodeDaemon, cluster_token: str | None, api: Routes) -> App:
    """Build the admin app around a started or not-yet-started daemon.

    ``api`` is the daemon's ``/api/v1`` routes (``<package>/api.py``).
    """
    app = App(f"modelfleet.{daemon.service}")
    probes = Routes()

    @probes.get("/healthz")
    def healthz(_request: Request) -> Any:
        verdict = check_health(daemon.health.path.parent.parent, daemon.service)
        body = {"service": daemon.service, "healthy": verdict.healthy, "reason": verdict.reason}
        return json_response(body, 200 if verdict.healthy else 503)

    @probes.get("/readyz")
    def readyz(_request: Request) -> Any:
        ok, reason = daemon.ready()
        body = {"service": daemon.service, "ready": ok, "reason": reason}
        return json_response(body, 200 if ok else 503)

    @probes.get("/metrics")
    def metrics(_request: Request) -> Response:
        return Response(generate_latest(daemon.registry), content_type=CONTENT_TYPE_LATEST)

    def require_cluster_token(request: Request) -> Response | None:
        if not cluster_token:
            return json_error(503, "admin API disabled: no cluster token configured")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not tokens_equal(given.strip(), cluster_token):
            return json_error(401, "missing or wrong cluster token")
        return None

    app.mount("", probes)
    app.mount("/api/v1", api, guard=require_cluster_token)
    return app
