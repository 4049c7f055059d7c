"""The admin HTTP server of a node daemon: Flask app + gunicorn, no dev server.

Every node daemon (remote_model_puller on 8001, config_manager on 8002) serves:

- ``/healthz`` — liveness from the heartbeat file (see :mod:`.health`), no auth;
- ``/readyz`` — the daemon's own readiness (e.g. TF Serving answers), no auth;
- ``/metrics`` — Prometheus text from the daemon's own registry, no auth;
- ``/api/v1/...`` — the daemon's blueprint (built outside the domain class, see
  :mod:`.daemon`); every call needs the cluster token (``Authorization: Bearer …``),
  compared in constant time.

The daemon object is created and started inside the gunicorn worker (one worker, a few
threads), so its loops and its HTTP handlers share memory. If the worker dies, gunicorn's
arbiter starts a new one and the daemon rebuilds its state from disk.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..tokens import tokens_equal
from .health import HealthFile, check_health

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


def json_error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """The one error shape of every modelfleet HTTP API."""
    return jsonify({"error": message, **extra}), status


def create_node_app(daemon: NodeDaemon, cluster_token: str | None, api: Blueprint) -> Flask:
    """Build the admin app around a started or not-yet-started daemon.

    ``api`` is the daemon's ``/api/v1`` blueprint (``<package>/api.py``).
    """
    app = Flask(f"modelfleet.{daemon.service}")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get("/healthz")
    def healthz() -> Any:
        verdict = check_health(daemon.health.path.parent.parent, daemon.service)
        body = {"service": daemon.service, "healthy": verdict.healthy, "reason": verdict.reason}
        return jsonify(body), 200 if verdict.healthy else 503

    @app.get("/readyz")
    def readyz() -> Any:
        ok, reason = daemon.ready()
        return jsonify({"service": daemon.service, "ready": ok, "reason": reason}), (
            200 if ok else 503
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(daemon.registry), mimetype=CONTENT_TYPE_LATEST)

    @api.before_request
    def require_cluster_token() -> Any:
        if not cluster_token:
            return json_error(503, "admin API disabled: no cluster token configured")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not tokens_equal(given.strip(), cluster_token):
            return json_error(401, "missing or wrong cluster token")
        return None

    app.register_blueprint(api, url_prefix="/api/v1")

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Any:
        return json_error(404, f"no such endpoint: {request.method} {request.path}")

    @app.errorhandler(405)
    def not_allowed(_exc: Exception) -> Any:
        return json_error(405, f"method {request.method} not allowed on {request.path}")

    return app
