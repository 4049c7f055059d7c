"""Settings of the master, built once at start from env vars and flags (see docs/contracts.md)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import EnvReader, SettingsError
from ..tokens import TokenError, read_token_file
from .identity import DEFAULT_NODE_PORTS
from .registry import DEFAULT_MAX_NODES

__all__ = ["MasterSettings"]


@dataclass(frozen=True)
class MasterSettings:
    """Everything the master needs; tokens are held in memory and never printed."""

    state_dir: Path
    remote: str
    admin_token: str
    readonly_token: str
    node_key: str  # the fleet's node key: every node's token is derived from it
    node_key_previous: str | None = None  # still accepted while nodes move to a new key
    node_ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_NODE_PORTS))
    max_nodes: int = DEFAULT_MAX_NODES
    trusted_proxies: frozenset[str] = frozenset()  # peers whose X-Real-IP is the client
    node_ca_file: str | None = None  # set: nodes are called over HTTPS, checked against it
    bind: str = "0.0.0.0:80"
    heartbeat_interval: float = 10.0
    stale_after: float = 30.0
    fanout_concurrency: int = 400
    fanout_deadline: float = 3.0
    drain_min_share: float = 0.75
    status_cache_seconds: float = 2.0
    threads: int = 8
    log_level: str = "INFO"

    def __repr__(self) -> str:  # never show tokens
        return (
            f"MasterSettings(state_dir={str(self.state_dir)!r}, remote={self.remote!r}, "
            f"bind={self.bind!r})"
        )

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> MasterSettings:
        """Read and validate; raises :class:`SettingsError` naming the variable."""
        r = EnvReader(overrides, env)
        state_dir = r.directory("MODELFLEET_STATE_DIR", "/app", create=True)
        remote = r.str("REMOTE_MODEL_DIRECTORY", required=True)
        if not (remote.startswith("gs://") or remote.startswith("/")):
            raise SettingsError(
                f"REMOTE_MODEL_DIRECTORY={remote!r} must be gs://bucket[/prefix] or an absolute "
                "path"
            )
        if r.raw("MODELFLEET_NODE_KEY_FILE") is None and r.raw("MODELFLEET_CLUSTER_TOKEN_FILE"):
            raise SettingsError(
                "MODELFLEET_CLUSTER_TOKEN_FILE is no longer read by the master: every node has "
                "its own token, derived from the key in MODELFLEET_NODE_KEY_FILE "
                "(docs/contracts.md, node identity)"
            )
        tokens = {}
        for var in (
            "MODELFLEET_ADMIN_TOKEN_FILE",
            "MODELFLEET_READONLY_TOKEN_FILE",
            "MODELFLEET_NODE_KEY_FILE",
        ):
            path = r.str(var, required=True)
            try:
                tokens[var] = read_token_file(path)
            except TokenError as exc:
                raise SettingsError(f"{var}: {exc}") from None
        if len(set(tokens.values())) != 3:
            raise SettingsError(
                "MODELFLEET_ADMIN_TOKEN_FILE, MODELFLEET_READONLY_TOKEN_FILE and "
                "MODELFLEET_NODE_KEY_FILE must hold three different secrets"
            )
        previous = r.token("MODELFLEET_NODE_KEY_PREVIOUS_FILE")
        heartbeat = r.float("MODELFLEET_HEARTBEAT_INTERVAL", 10.0, minimum=0.1)
        share = r.float("MODELFLEET_DRAIN_MIN_SHARE", 0.75)
        if share > 1:
            raise SettingsError(f"MODELFLEET_DRAIN_MIN_SHARE={share} must be between 0 and 1")
        host, port = r.hostport("MODELFLEET_BIND", "0.0.0.0:80")
        return cls(
            state_dir=state_dir,
            remote=remote.rstrip("/"),
            admin_token=tokens["MODELFLEET_ADMIN_TOKEN_FILE"],
            readonly_token=tokens["MODELFLEET_READONLY_TOKEN_FILE"],
            node_key=tokens["MODELFLEET_NODE_KEY_FILE"],
            node_key_previous=previous,
            node_ports=_node_ports(r.str("MODELFLEET_NODE_PORTS", "")),
            max_nodes=r.int("MODELFLEET_MAX_NODES", DEFAULT_MAX_NODES, minimum=1),
            trusted_proxies=_addresses(r.str("MODELFLEET_TRUSTED_PROXIES", "")),
            node_ca_file=r.ca_file("MODELFLEET_NODE_CA_FILE"),
            bind=f"{host}:{port}",
            heartbeat_interval=heartbeat,
            stale_after=r.float("MODELFLEET_STALE_AFTER", 3 * heartbeat, minimum=0.1),
            fanout_concurrency=r.int("MODELFLEET_FANOUT_CONCURRENCY", 400, minimum=1),
            fanout_deadline=r.float("MODELFLEET_FANOUT_DEADLINE", 3.0, minimum=0.05),
            drain_min_share=share,
            status_cache_seconds=r.float("MODELFLEET_STATUS_CACHE_SECONDS", 2.0),
            threads=r.int("MODELFLEET_MASTER_THREADS", 8, minimum=1),
            log_level=r.str("MODELFLEET_LOG_LEVEL", "INFO"),
        )


def _node_ports(text: str) -> dict[str, int]:
    """``MODELFLEET_NODE_PORTS``: ``service=port,…`` over the RUNBOOK's 8001/8002."""
    ports = dict(DEFAULT_NODE_PORTS)
    for item in filter(None, (p.strip() for p in text.split(","))):
        service, _, port = item.partition("=")
        if service not in ports or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(
                f"MODELFLEET_NODE_PORTS: {item!r} is not service=port "
                f"(services: {', '.join(ports)})"
            )
        ports[service] = int(port)
    return ports


def _addresses(text: str) -> frozenset[str]:
    """``MODELFLEET_TRUSTED_PROXIES``: comma-separated IP addresses."""
    out = set()
    for item in filter(None, (p.strip() for p in text.split(","))):
        try:
            out.add(str(ipaddress.ip_address(item)))
        except ValueError:
            raise SettingsError(
                f"MODELFLEET_TRUSTED_PROXIES: {item!r} is not an IP address"
            ) from None
    return frozenset(out)
