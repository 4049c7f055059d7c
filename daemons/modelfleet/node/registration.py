"""Registration with the master and heartbeats, off the serving path.

A node registers ``{hostname, service, port, zone, version}`` with
``POST <master>/api/v1/nodes/register`` (cluster token) and repeats it every
``interval`` seconds as its heartbeat. The master may be absent, down or slow: failures are
retried with exponential backoff and full jitter in a daemon thread, so the sync loop never
waits on the master (invariant 5).

The token is this node's own (``mfn1.<hostname>.<mac>``, issued at provisioning): the master
accepts the registration only for that hostname, from an address the hostname resolves to.
When the hostname is an IP literal (a fleet on loopback, a node known by its address) the
registration is sent from that address, so the master sees the address the node claims.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import random
import ssl
import threading
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from .. import __version__
from ..contracts.node import NodeService, Registration
from ..contracts.schema import to_json
from ..logsetup import kv

__all__ = ["Registrar"]

log = logging.getLogger(__name__)


class Registrar:
    """Background registration + heartbeat loop."""

    def __init__(
        self,
        *,
        master_url: str,
        token: str | None,
        hostname: str,
        service: str,
        port: int,
        zone: str,
        interval: float = 10.0,
        timeout: float = 3.0,
        max_backoff: float = 60.0,
        on_result: Callable[[bool, str], None] | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.master_url = master_url.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.source = _source_address(hostname)
        self.payload: dict[str, Any] = to_json(
            Registration(hostname, cast(NodeService, service), port, zone, __version__)
        )
        self.interval = interval
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.on_result = on_result
        self.registered = False
        self.last_error = ""
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.master_url)
        host, port = parts.hostname or "", parts.port
        source = (self.source, 0) if self.source else None
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout, source_address=source, context=context
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout, source_address=source)

    def register_once(self) -> bool:
        """One registration attempt; never raises.

        The standard library's HTTP client, not ``requests``: a node daemon's worker then
        does not carry requests, urllib3 and charset-normalizer in memory for one POST.
        """
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        path = urlsplit(self.master_url).path.rstrip("/") + "/api/v1/nodes/register"
        try:
            conn = self._connection()
            try:
                conn.request("POST", path, body=json.dumps(self.payload).encode(), headers=headers)
                resp = conn.getresponse()
                ok = resp.status == 200
                detail = ""
                if not ok:
                    try:
                        detail = str(json.loads(resp.read(4096)).get("error", ""))[:200]
                    except (ValueError, AttributeError):
                        detail = ""
                self.last_error = (
                    ""
                    if ok
                    else f"master answered {resp.status}" + (f": {detail}" if detail else "")
                )
            finally:
                conn.close()
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timeout, TLS
            ok = False
            # the reason, not only its class: "certificate verify failed: ..." is the 3 a.m. hint
            self.last_error = f"master unreachable: {type(exc).__name__}: {exc}"[:300]
        if ok and not self.registered:
            log.info("registered with master", extra=kv(master=self.master_url))
        elif not ok and (self.registered or self.failures == 0):
            log.warning("registration failed", extra=kv(error=self.last_error))
        self.registered = ok
        self.failures = 0 if ok else self.failures + 1
        if self.on_result:
            self.on_result(ok, self.last_error)
        return ok

    def next_delay(self) -> float:
        """Heartbeat interval when healthy; capped exponential backoff with jitter otherwise."""
        if self.failures == 0:
            return self.interval
        ceiling = min(self.max_backoff, self.interval * (2 ** min(self.failures, 10)) / 4)
        return random.uniform(min(1.0, ceiling), ceiling)

    def run(self) -> None:
        while not self._stop.is_set():
            self.register_once()
            self._stop.wait(self.next_delay())

    def start(self) -> None:
        if not self.master_url:
            return
        self._thread = threading.Thread(target=self.run, name="registrar", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _source_address(hostname: str) -> str | None:
    """The address to register from: the hostname itself when it is an IP literal."""
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        return None
