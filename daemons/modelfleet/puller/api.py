"""The puller's ``/api/v1`` endpoints (the admin server adds auth, health and metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..node.web import Request, Routes

if TYPE_CHECKING:
    from .daemon import PullerDaemon

__all__ = ["blueprint"]


def blueprint(daemon: PullerDaemon) -> Routes:
    api = Routes()

    @api.get("/status")
    def status(_request: Request) -> Any:
        return daemon.status()

    @api.post("/sync")
    def sync(_request: Request) -> Any:
        daemon.sync_now()
        return {"accepted": True}, 202

    return api
