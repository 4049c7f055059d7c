"""Who a node is, and where the master may call it.

Before: one cluster token shared by every node let anyone holding it register any hostname
and port (``169.254.169.254``, ``127.0.0.1:22``), overwrite another node's entry, or add
fake healthy nodes that defeat the drain guard — and the master then sent that token to
whatever address was registered.

Now (docs/contracts.md, "Node identity"):

- every node has its own token, ``mfn1.<hostname>.<mac>``, derived from the fleet's node key
  that only the master holds (:func:`modelfleet.tokens.node_token`; the Ansible roles issue
  it at provisioning with ``modelfleet token node HOST`` on the master). The authenticated
  identity is the hostname inside a token whose MAC checks out — never a header;
- a registration is accepted only for the token's own hostname, from an address that
  hostname resolves to (or that it spells, for an IP literal), on the port of its service;
  the registry holds at most ``max_nodes`` daemons;
- the master calls a node only at the address it verified, with that node's own token:
  no credential ever goes to an address that did not prove it belongs to the node.

Key rotation: a registration may be proved with the current or the previous key; the entry
remembers which, and the master calls the node with the token of that key until the node
registers with the new one.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from ..tokens import node_token, node_token_identity

__all__ = ["DEFAULT_NODE_PORTS", "NodeIdentity", "Refused", "resolve_addresses"]

DEFAULT_NODE_PORTS: Mapping[str, int] = {"remote_model_puller": 8001, "config_manager": 8002}
RESOLVE_DEADLINE = 2.0  # seconds a registration waits for DNS before it is refused (503)
REVERIFY_AFTER = 300.0  # a verified (hostname, address) pair is trusted this long


class Refused(Exception):
    """A registration the master does not accept; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def resolve_addresses(hostname: str) -> set[str]:
    """The addresses ``hostname`` resolves to (an IP literal resolves to itself)."""
    literal = _literal(hostname)
    if literal is not None:
        return {literal}
    infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    return {str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}


@dataclass(frozen=True)
class Verified:
    hostname: str
    address: str
    key_id: str


class NodeIdentity:
    """Authenticates node tokens and verifies where a node may be called."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        ports: Mapping[str, int] = DEFAULT_NODE_PORTS,
        resolve: Callable[[str], set[str]] = resolve_addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "current" not in keys:
            raise ValueError("the current node key is required")
        self.keys = dict(keys)
        self.ports = dict(ports)
        self.resolve = resolve
        self.clock = clock
        self._verified: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")

    def authenticate(self, token: str | None) -> tuple[str, str] | None:
        """(hostname, key id) of a valid node token; None otherwise (constant time per key)."""
        found = None
        for key_id, key in self.keys.items():
            hostname = node_token_identity(key, token)
            if hostname is not None and found is None:
                found = (hostname, key_id)
        return found

    def token_for(self, hostname: str, key_id: str) -> str:
        """The token the master presents to ``hostname`` (the node's own)."""
        return node_token(self.keys.get(key_id) or self.keys["current"], hostname)

    def check(
        self, identity: str, key_id: str, hostname: str, service: str, port: int, peer: str | None
    ) -> Verified:
        """Accept a registration body from ``peer`` authenticated as ``identity``, or raise
        :class:`Refused` (403 spoofing, 400 wrong port, 503 DNS did not answer)."""
        if hostname != identity:
            raise Refused(
                403, f"the token of node {identity!r} may not register hostname {hostname!r}"
            )
        expected = self.ports.get(service)
        if expected is not None and port != expected:
            raise Refused(403, f"{service} must register its service port {expected}, not {port}")
        address = _literal(peer or "")
        if address is None:
            raise Refused(403, "registration from an unknown address")
        if not self._address_ok(hostname, address):
            raise Refused(
                403,
                f"{hostname!r} does not resolve to {address}, the address it registers from",
            )
        return Verified(hostname, address, key_id)

    def _address_ok(self, hostname: str, address: str) -> bool:
        now = self.clock()
        with self._lock:
            seen = self._verified.get((hostname, address))
            if seen is not None and now - seen < REVERIFY_AFTER:
                return True
        future = self._pool.submit(self.resolve, hostname)
        try:
            addresses = future.result(timeout=RESOLVE_DEADLINE)
        except FutureTimeout:
            raise Refused(503, f"DNS did not resolve {hostname!r} in time; retry") from None
        except (OSError, UnicodeError, ValueError):
            return False
        if address not in addresses:
            return False
        with self._lock:
            if len(self._verified) > 100_000:
                self._verified.clear()
            self._verified[(hostname, address)] = now
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
