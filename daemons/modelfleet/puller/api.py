"""The puller's ``/api/v1`` endpoints (the admin server adds auth, health and metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify

if TYPE_CHECKING:
    from .daemon import PullerDaemon

__all__ = ["blueprint"]


def blueprint(daemon: PullerDaemon) -> Blueprint:
    bp = Blueprint("puller_api", __name__)

    @bp.get("/status")
    def status() -> Any:
        return jsonify(daemon.status())

    @bp.post("/sync")
    def sync() -> Any:
        daemon.sync_now()
        return jsonify({"accepted": True}), 202

    return bp
