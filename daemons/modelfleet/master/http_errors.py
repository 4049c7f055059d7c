"""gunicorn's own refusals in the master's JSON error shape, and in the audit log.

Some requests never reach the app: a request line over ``limit_request_line`` (414), a
malformed request line or header (400), too many or too large header fields (431). gunicorn
answers those itself, with an HTML page, from ``gunicorn.util.write_error``; it has no
setting for the format. :func:`install` (run in the worker by ``post_worker_init``) replaces
that writer in the master's worker process so these answers carry the same
``{"error": …}`` body as every other error, and records each in the audit log like any
other refusal. gunicorn's own mapping of parse errors to statuses is kept as is.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from gunicorn import util

from ..contracts.cluster import AuditEntry
from .api import bounded
from .audit import AuditLog

__all__ = ["install", "json_error_bytes"]

_local = threading.local()


def json_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error answer with a JSON body (connection closed after it)."""
    text = bounded(f"{reason}: {message}" if message else reason, 300)
    body = json.dumps({"error": text}).encode()
    head = (
        f"HTTP/1.1 {status} {bounded(reason, 60)}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install(worker: Any, audit: AuditLog | None = None) -> None:
    """Make ``worker`` answer its own refusals in JSON and audit them."""
    original = worker.handle_error

    def handle_error(req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        _local.addr = addr[0] if addr else None
        try:
            original(req, client, addr, exc)
        finally:
            _local.addr = None

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, json_error_bytes(status_int, reason, mesg))
        if audit is not None:
            # The answer went out; a full disk must not turn it into a crash.
            with contextlib.suppress(OSError):
                audit.append(
                    AuditEntry(
                        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        who="anonymous",
                        role=None,
                        action="refused:http",
                        method="",
                        path="",
                        status=status_int,
                        result="error",
                        error=bounded(f"{reason}: {mesg}", 300),
                        remote_addr=getattr(_local, "addr", None),
                    )
                )

    worker.handle_error = handle_error
    util.write_error = write_error
