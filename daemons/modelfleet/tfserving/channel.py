"""How a TF Serving caller's gRPC channel is built: gRPC's own resolver, balancer and retries.

The RUNBOOK's callers reach TF Serving through one DNS name with an A record per serving node.
Instead of a hand-written round robin over channels of our own, one channel per service name
lets gRPC do the work it is built for:

- ``dns:///name:8500`` — gRPC resolves every A record and re-resolves whenever a connection
  goes away (a server's GOAWAY at its ``max_connection_age``, a node dying), at most every
  ``reresolve_min_interval`` seconds;
- the ``round_robin`` policy keeps a connection to every address and sends each call to the
  next READY one, so a dead node (connection reset, failed connect) stops getting calls at once;
- a retry policy for ``UNAVAILABLE`` on ``PredictionService`` (Predict is idempotent): a call
  that hit a node as it died is sent again to another node, within the call's own deadline;
  retry throttling stops the retries when most calls fail (a real outage), so retries never
  multiply the load on a fleet that is down;
- keepalive pings while calls are in flight, so a node that vanishes without closing its
  connections (power loss, network split) is noticed in ``keepalive_time + keepalive_timeout``;
- ``connect_timeout`` (600 ms, the RUNBOOK's figure) bounds every connection attempt, so a
  black-holed node is marked failed after 600 ms and skipped by round robin.

:func:`grpc_target` turns what an operator writes (``name:port``, ``a:p,b:p``) into a gRPC
target; :func:`channel_options` is the channel's configuration. The RUNBOOK lists the same
settings for a Java (Elasticsearch) caller.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ChannelPolicy", "channel_options", "grpc_target", "service_config"]

# The services whose calls may be retried: Predict, Classify, Regress, GetModelMetadata only
# read. ModelService (status, config reload) is the config manager's and is never retried.
RETRIED_SERVICES = ("tensorflow.serving.PredictionService",)


@dataclass(frozen=True)
class ChannelPolicy:
    """Client-side settings of a TF Serving channel (seconds unless named otherwise)."""

    connect_timeout: float = 0.6
    retry_attempts: int = 3
    retry_initial_backoff: float = 0.01
    retry_max_backoff: float = 0.1
    # Token bucket of gRPC retry throttling: each failed call costs 1 token, each success
    # gives back token_ratio; retries stop while fewer than half the tokens are left.
    retry_max_tokens: int = 100
    retry_token_ratio: float = 0.1
    keepalive_time: float = 10.0
    keepalive_timeout: float = 2.0
    reresolve_min_interval: float = 1.0
    reconnect_backoff_max: float = 1.0
    max_message_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.retry_attempts <= 5:
            raise ValueError("retry_attempts must be between 1 and 5 (gRPC caps it at 5)")
        for name in ("connect_timeout", "keepalive_time", "keepalive_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def service_config(policy: ChannelPolicy) -> dict[str, Any]:
    """gRPC service config: round_robin, retries of UNAVAILABLE, retry throttling."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if policy.retry_attempts > 1:
        config["methodConfig"] = [
            {
                "name": [{"service": service} for service in RETRIED_SERVICES],
                "retryPolicy": {
                    "maxAttempts": policy.retry_attempts,
                    "initialBackoff": f"{policy.retry_initial_backoff:g}s",
                    "maxBackoff": f"{policy.retry_max_backoff:g}s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
        config["retryThrottling"] = {
            "maxTokens": policy.retry_max_tokens,
            "tokenRatio": policy.retry_token_ratio,
        }
    return config


def channel_options(policy: ChannelPolicy | None = None) -> list[tuple[str, Any]]:
    """Options for ``grpc.insecure_channel``; the service config rides along as JSON."""
    p = policy or ChannelPolicy()
    ms = lambda seconds: max(1, int(seconds * 1000))  # noqa: E731
    return [
        ("grpc.service_config", json.dumps(service_config(p))),
        ("grpc.enable_retries", 1 if p.retry_attempts > 1 else 0),
        ("grpc.max_send_message_length", p.max_message_bytes),
        ("grpc.max_receive_message_length", p.max_message_bytes),
        # Each connection attempt gets connect_timeout (gRPC calls it the minimum connect
        # timeout), then backs off from 100 ms up to reconnect_backoff_max.
        ("grpc.min_reconnect_backoff_ms", ms(p.connect_timeout)),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", ms(max(p.reconnect_backoff_max, p.connect_timeout))),
        ("grpc.keepalive_time_ms", ms(p.keepalive_time)),
        ("grpc.keepalive_timeout_ms", ms(p.keepalive_timeout)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.dns_min_time_between_resolutions_ms", ms(p.reresolve_min_interval)),
    ]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _split(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):  # [v6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = item.rpartition(":")
        if not sep or ":" in host:  # no port, or a bare IPv6 address
            host, port_text = item, ""
    if port_text and not port_text.isdigit():
        raise ValueError(f"bad target {item!r}: expected HOST[:PORT]")
    port = int(port_text) if port_text else default_port
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad target {item!r}: expected HOST[:PORT]")
    return host, port


def grpc_target(spec: str, default_port: int = 8500) -> str:
    """``name[:port]`` → ``dns:///name:port``; ``a:p,b:p`` (addresses) → ``ipv4:a:p,b:p``.

    A gRPC URI (``dns:``, ``ipv4:``, ``ipv6:``, ``unix:``) is returned as given. A single IP
    address gets the ``dns:`` scheme too (gRPC resolves a literal to itself). A list must be
    IP addresses: gRPC resolves one name per channel, so a list of names is an error.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("empty target")
    if spec.split(":", 1)[0] in ("dns", "ipv4", "ipv6", "unix", "unix-abstract"):
        return spec
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if len(items) == 1:
        host, port = _split(items[0], default_port)
        host = f"[{host}]" if ":" in host else host
        return f"dns:///{host}:{port}"
    parsed = [_split(item, default_port) for item in items]
    if not all(_is_ip(host) for host, _ in parsed):
        raise ValueError(f"{spec!r}: a list of targets must be IP addresses (or give one name)")
    v6 = [":" in host for host, _ in parsed]
    if not any(v6):
        return "ipv4:" + ",".join(f"{h}:{p}" for h, p in parsed)
    if all(v6):
        return "ipv6:" + ",".join(f"[{h.strip('[]')}]:{p}" for h, p in parsed)
    raise ValueError(f"{spec!r}: mixes IPv4 and IPv6 addresses; give a DNS name instead")
