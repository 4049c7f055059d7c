"""The load generator's targets: a DNS name (every A record is a node) or an explicit list.

The RUNBOOK's callers reach TF Serving through one DNS name with an A record per serving
node. :func:`channel_spec` keeps a single name as a name, so the gRPC channel resolves it
itself and follows DNS changes (a drained zone leaves, an undrained one comes back);
:func:`resolve_targets` lists the addresses behind it for display and early errors.
"""

from __future__ import annotations

import socket

__all__ = ["channel_spec", "resolve_targets"]


def _items(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def resolve_targets(spec: str, default_port: int = 8500) -> list[str]:
    """``host[:port]`` (all addresses of host) or ``a:p,b:p`` → a sorted list of ``ip:port``."""
    targets: set[str] = set()
    for item in _items(spec):
        host, sep, port_text = item.rpartition(":")
        if not sep:
            host, port_text = item, str(default_port)
        if not port_text.isdigit():
            raise ValueError(f"bad target {item!r}: expected HOST[:PORT]")
        infos = socket.getaddrinfo(host, int(port_text), socket.AF_INET, socket.SOCK_STREAM)
        for info in infos:
            targets.add(f"{info[4][0]}:{port_text}")
    if not targets:
        raise ValueError(f"no targets in {spec!r}")
    return sorted(targets)


def channel_spec(spec: str, default_port: int = 8500) -> str:
    """What the Predict channel should dial: one name stays a name (gRPC re-resolves it);
    a list is resolved once here into addresses (gRPC takes one name per channel)."""
    items = _items(spec)
    if len(items) == 1:
        return items[0]
    return ",".join(resolve_targets(spec, default_port))
