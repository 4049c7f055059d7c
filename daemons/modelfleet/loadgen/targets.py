"""Resolve the load generator's targets: a DNS name (every A record) or an explicit list.

The RUNBOOK's callers reach TF Serving through one DNS name with an A record per serving
node; resolving all records and spreading calls over them is what a gRPC client with
round_robin does, and it makes a node leaving DNS visible in the figures.
"""

from __future__ import annotations

import socket

__all__ = ["resolve_targets"]


def resolve_targets(spec: str, default_port: int = 8500) -> list[str]:
    """``host[:port]`` (all addresses of host) or ``a:p,b:p`` → a sorted list of ``ip:port``."""
    targets: set[str] = set()
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
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
