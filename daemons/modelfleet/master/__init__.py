"""modelfleet.master: the one place where operators see and steer the fleet.

``create_app(test_config=None)`` is the Flask app factory (gunicorn starts
``modelfleet.master:create_app()``, see ``gunicorn_conf.py``). The master is never on the
serving path: nodes pull and serve without it.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from ..node.admin import json_error
from .api import ApiError, Services
from .audit import AuditLog
from .cluster import Cluster
from .fanout import FanOut
from .metrics import MasterMetrics
from .registry import Registry
from .remote import RemoteState, open_remote
from .settings import MasterSettings

__all__ = ["MasterSettings", "create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the master app.

    ``test_config`` may hold ``SETTINGS`` (a :class:`MasterSettings`; default: read from the
    environment, raising ``SettingsError``), ``REMOTE`` (a :class:`RemoteState`, e.g. over a
    fake store) and any Flask setting.
    """
    app = Flask(__name__)
    app.config.from_mapping(SETTINGS=None, REMOTE=None, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    settings: MasterSettings = app.config["SETTINGS"] or MasterSettings.from_env()
    app.config["SETTINGS"] = settings
    app.config["TOKENS"] = {
        "admin": settings.admin_token,
        "readonly": settings.readonly_token,
        "cluster": settings.cluster_token,
    }
    registry = Registry(settings.state_dir, stale_after=settings.stale_after)
    atexit.register(registry.close)
    metrics = MasterMetrics(registry)
    remote: RemoteState = app.config["REMOTE"] or open_remote(settings.remote)
    audit = AuditLog(settings.state_dir)
    fanout = FanOut(
        settings.cluster_token,
        concurrency=settings.fanout_concurrency,
        deadline=settings.fanout_deadline,
        observe=metrics.observe_fanout,
    )
    cluster = Cluster(
        registry,
        fanout,
        remote,
        audit,
        drain_min_share=settings.drain_min_share,
        cache_seconds=settings.status_cache_seconds,
    )
    app.extensions["modelfleet"] = Services(registry, cluster, remote, audit, metrics)

    from . import views_meta, views_models, views_nodes

    app.register_blueprint(views_meta.bp)
    app.register_blueprint(views_nodes.bp, url_prefix="/api/v1")
    app.register_blueprint(views_models.bp, url_prefix="/api/v1")

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Any:
        return json_error(exc.status, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code == 404:
            return json_error(404, f"no such endpoint: {request.method} {request.path}")
        if exc.code == 405:
            return json_error(405, f"method {request.method} not allowed on {request.path}")
        return json_error(exc.code or 500, exc.description or "error")

    @app.after_request
    def count(resp: Any) -> Any:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(endpoint, str(resp.status_code)).inc()
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    return app
