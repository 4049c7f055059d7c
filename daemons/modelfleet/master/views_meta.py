"""Blueprint: health, metrics, the OpenAPI document and the dashboard."""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify, redirect
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .api import services
from .auth import require
from .openapi import openapi_document

bp = Blueprint("meta", __name__)

_STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness, no auth: the process answers."""
    return jsonify({"service": "master", "healthy": True})


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness, no auth (a load balancer probe): the registry is loaded. Reveals nothing."""
    services().registry.nodes()
    return jsonify({"service": "master", "ready": True})


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(services().metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/api/v1/openapi.json")
@require("read")
def openapi() -> Any:
    return jsonify(openapi_document())


@bp.get("/")
@require("read")
def index() -> Any:
    return redirect("/dashboard", code=302)


@bp.get("/dashboard")
@require("read")
def dashboard() -> Any:
    return _static("index.html")


@bp.get("/dashboard/<name>")
@require("read")
def dashboard_asset(name: str) -> Any:
    if name not in _STATIC:
        from .api import ApiError

        raise ApiError(404, f"no dashboard asset {name!r}")
    return _static(name)


def _static(name: str) -> Response:
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(data, mimetype=_STATIC[name])
