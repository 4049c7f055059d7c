"""Structured JSON logs, one object per line, on stderr (journald and podman keep them).

Every record carries the service and hostname so fleet-wide log search can group by node.
Extra fields are passed with ``logger.info("msg", extra={"fields": {...}})``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "kv"]

_SECRET_HINTS = ("token", "secret", "password", "authorization", "credential")


def kv(**fields: Any) -> dict[str, Any]:
    """Shorthand for ``extra={"fields": {...}}``."""
    return {"fields": fields}


class JsonFormatter(logging.Formatter):
    """Format records as JSON; values of keys that look like secrets are redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.hostname = os.environ.get("HOSTNAME") or socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "host": self.hostname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if any(h in key.lower() for h in _SECRET_HINTS):
                    value = "[redacted]"
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str | int = "INFO") -> None:
    """Route the root logger to stderr as JSON; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_modelfleet", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler._modelfleet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # Quiet chatty libraries; their warnings still come through.
    for noisy in ("urllib3", "google", "werkzeug", "gunicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
