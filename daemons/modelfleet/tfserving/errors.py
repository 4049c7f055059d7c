"""Errors of the TF Serving wire client.

One exception type carries the gRPC status code *name* (``"NOT_FOUND"``,
``"UNAVAILABLE"``...) so callers can branch on it without importing grpc, plus a few
predicates the config manager and the killswitch use.
"""

from __future__ import annotations

__all__ = ["KillSwitchOpen", "TFServingError"]

# Codes meaning "the server (or the path to it) is not there", not "your request is wrong".
_CONNECTIVITY = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


class TFServingError(RuntimeError):
    """A call to TF Serving failed; ``code`` is the gRPC status code name."""

    def __init__(self, code: str, message: str, *, method: str = "") -> None:
        super().__init__(f"{method + ': ' if method else ''}{code}: {message}")
        self.code = code
        self.message = message
        self.method = method

    @property
    def not_found(self) -> bool:
        return self.code == "NOT_FOUND"

    @property
    def unreachable(self) -> bool:
        """True when TF Serving did not answer at all (down, restarting, too slow)."""
        return self.code in _CONNECTIVITY


class KillSwitchOpen(TFServingError):
    """The killswitch is open: the call was not attempted."""

    def __init__(self, target: str, retry_in: float) -> None:
        super().__init__(
            "UNAVAILABLE", f"killswitch open for {target}; next probe in {retry_in:.1f}s"
        )
        self.retry_in = retry_in
