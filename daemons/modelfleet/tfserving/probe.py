"""Is TF Serving alive? Ask it over gRPC, the way its callers reach it.

A TCP connect only proves the port is open; a wedged server can accept connections and never
answer. :func:`probe` sends GetModelStatus (cheap, not counted in TF Serving's request rate)
with a deadline: any answer, including NOT_FOUND for a model it does not serve, means the
server is up; no answer (refused, reset, deadline) means it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from .client import TFServingClient
from .errors import TFServingError

__all__ = ["ProbeResult", "probe"]

# A name no model has: the probe needs an answer, not a model.
PROBE_MODEL = "modelfleet-probe"


@dataclass(frozen=True)
class ProbeResult:
    alive: bool
    detail: str


def probe(target: str, *, timeout: float = 5.0, model: str = PROBE_MODEL) -> ProbeResult:
    """GetModelStatus(``model``) on ``target`` within ``timeout`` seconds."""
    client = TFServingClient(target, timeout=timeout, connect_timeout=timeout)
    try:
        rows = client.status(model)
    except TFServingError as exc:
        if exc.unreachable:
            return ProbeResult(False, f"{target}: {exc.code}: {exc.message}")
        return ProbeResult(True, f"{target}: answered {exc.code}")
    finally:
        client.close()
    return ProbeResult(True, f"{target}: answered with {len(rows)} version(s) of {model}")
