"""modelfleet.master: the one place where operators see and steer the fleet.

``create_app(test_config=None)`` is the Flask app factory (gunicorn starts
``modelfleet.master:create_app()``, see ``gunicorn_conf.py``). The master is never on the
serving path: nodes pull and serve without it.

Limits every request meets before a view sees it: a body of at most
:data:`~.api.MAX_BODY_BYTES` (413), JSON nested at most :data:`~.api.MAX_JSON_DEPTH` deep
(400), paths matched as sent (no slash merging, no redirects: ``/models/%2Fname`` is a 404,
never a redirect to ``/models/name``). Every answer that is not a success is in the JSON
error shape (405 with ``Allow``), and every state change and every refusal is audited.
A state-changing request from a browser on another origin is refused, and so is a body that
is not JSON (:mod:`.auth`). Nodes prove who they are with their own tokens and are called
only at the address they registered from (:mod:`.identity`). Every change is durable before
it is acknowledged (:mod:`.auditing`, :mod:`.statefile`).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from ..logsetup import kv
from .api import MAX_BODY_BYTES, ApiError, Services, bounded, error_response
from .audit import AuditLog
from .auditing import record_outcome
from .auth import check_browser_request
from .cluster import Cluster
from .fanout import FanOut
from .identity import NodeIdentity
from .metrics import MasterMetrics
from .registry import Registry
from .remote import RemoteState, open_remote
from .settings import MasterSettings
from .statefile import StateWriteError

__all__ = ["MasterSettings", "create_app"]

log = logging.getLogger(__name__)

_NOT_AUDITED = ("/healthz", "/readyz", "/metrics")


class HostConverter(BaseConverter):
    """A host in ``/nodes/<host:hostname>``: one segment, never ``register`` (that path is
    the registration endpoint, and one path must mean one resource)."""

    regex = r"(?!register$)[^/]+"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the master app.

    ``test_config`` may hold ``SETTINGS`` (a :class:`MasterSettings`; default: read from the
    environment, raising ``SettingsError``), ``REMOTE`` (a :class:`RemoteState`, e.g. over a
    fake store), ``RESOLVE`` (hostname → set of addresses, for the registration check) and
    any Flask setting. Raises :class:`~.statefile.StateFileError` when a state file is
    corrupt (the master never starts on a silently emptied registry).
    """
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=None,
        REMOTE=None,
        RESOLVE=None,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Paths are matched as sent: a merged or redirected path would act on another model
    # (no rule ends with "/", so strict slashes never redirect either: they 404).
    app.url_map.merge_slashes = False
    app.url_map.converters["host"] = HostConverter
    settings: MasterSettings = app.config["SETTINGS"] or MasterSettings.from_env()
    app.config["SETTINGS"] = settings
    app.config["TOKENS"] = {"admin": settings.admin_token, "readonly": settings.readonly_token}
    keys = {"current": settings.node_key}
    if settings.node_key_previous:
        keys["previous"] = settings.node_key_previous
    identity_kw: dict[str, Any] = {"ports": settings.node_ports}
    if app.config["RESOLVE"] is not None:
        identity_kw["resolve"] = app.config["RESOLVE"]
    identity = NodeIdentity(keys, **identity_kw)
    registry = Registry(
        settings.state_dir,
        stale_after=settings.stale_after,
        max_nodes=settings.max_nodes,
        scheme="https" if settings.node_ca_file else "http",
    )
    atexit.register(registry.close)
    atexit.register(identity.close)
    metrics = MasterMetrics(registry)
    remote: RemoteState = app.config["REMOTE"] or open_remote(settings.remote)
    audit = AuditLog(settings.state_dir)
    fanout = FanOut(
        ca_file=settings.node_ca_file,
        concurrency=settings.fanout_concurrency,
        deadline=settings.fanout_deadline,
        observe=metrics.observe_fanout,
    )
    cluster = Cluster(
        registry,
        fanout,
        identity,
        remote,
        audit,
        drain_min_share=settings.drain_min_share,
        cache_seconds=settings.status_cache_seconds,
    )
    atexit.register(cluster.close)
    app.extensions["modelfleet"] = Services(registry, cluster, remote, audit, metrics, identity)

    from . import views_cluster, views_meta, views_models, views_nodes, views_quarantine

    app.register_blueprint(views_meta.bp)
    app.register_blueprint(views_nodes.bp, url_prefix="/api/v1")
    app.register_blueprint(views_cluster.bp, url_prefix="/api/v1")
    app.register_blueprint(views_models.bp, url_prefix="/api/v1")
    app.register_blueprint(views_quarantine.bp, url_prefix="/api/v1")

    @app.before_request
    def browser_guard() -> None:
        check_browser_request()

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Any:
        return error_response(exc.status, exc.message, **exc.extra)

    @app.errorhandler(StateWriteError)
    def state_not_written(exc: StateWriteError) -> Any:
        log.error("state change not written", extra=kv(error=str(exc)))
        return error_response(507, str(exc), reason="state_not_written")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code == 404:
            return error_response(
                404, f"no such endpoint: {request.method} {bounded(request.path, 200)}"
            )
        if code == 405:
            resp, status = error_response(
                405, f"method {request.method} not allowed on {bounded(request.path, 200)}"
            )
            resp.headers["Allow"] = ", ".join(sorted(getattr(exc, "valid_methods", None) or ()))
            return resp, status
        if code == 413:
            return error_response(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        return error_response(code, bounded(exc.description or exc.name, 300))

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Any:
        log.exception("unhandled error", extra=kv(path=bounded(request.path, 200)))
        return error_response(500, "internal error (logged on the master)")

    @app.after_request
    def finish(resp: Any) -> Any:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(endpoint, str(resp.status_code)).inc()
        resp.headers.setdefault("Cache-Control", "no-store")
        view = app.view_functions.get(request.endpoint or "")
        if request.path not in _NOT_AUDITED and (
            getattr(view, "audit_action", None) or resp.status_code >= 400
        ):
            record_outcome(resp.status_code)
        return resp

    return app
