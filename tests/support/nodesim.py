"""A light simulator of node daemons (puller + config manager) for master tests and benches.

Every simulated host listens on its own loopback address (``127.0.x.y``) and answers both
node admin APIs of docs/contracts.md on one port (the master calls each registered daemon by
hostname and port, so puller and config manager can share it here). One asyncio loop in a
background thread serves all hosts: 1,000 hosts cost a few MB and no threads.

Per host one can set a reply delay, ``tfserving_up``, ``sync_ok`` (the puller's last sync),
the models it has loaded, or ``hang`` (accept, never answer); every call is recorded in
``host.calls``.

Identity as in production: the simulator holds the fleet's node key, every host has its own
token (``modelfleet.tokens.node_token``), registers with it from its own address, and
answers only calls that present it. The master must then be told the simulator's port is
the service port of both daemons (``MODELFLEET_NODE_PORTS``, :meth:`NodeSim.node_ports`).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modelfleet.contracts.node import (
    NODE_SERVICES,
    DiskStatus,
    LastSync,
    PullerStatus,
    Registration,
)
from modelfleet.contracts.schema import to_json
from modelfleet.tokens import node_token

__all__ = ["NodeSim", "SimHost", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class SimHost:
    hostname: str
    port: int
    zone: str = "default"
    delay: float = 0.0
    tfserving_up: bool = True
    hang: bool = False
    sync_ok: bool = True  # the puller's last sync reached the bucket
    models: dict[str, dict[str, str]] = field(default_factory=dict)  # model → {version: state}
    calls: list[tuple[str, str]] = field(default_factory=list)
    authorized: list[bool] = field(default_factory=list)  # per call: carried its own token

    def puller_status(self) -> dict[str, Any]:
        local = {m: sorted(int(v) for v in vs) for m, vs in self.models.items()}
        return dict(
            to_json(
                PullerStatus(
                    hostname=self.hostname,
                    zone=self.zone,
                    remote="sim",
                    last_sync=LastSync(
                        at="2026-01-01T00:00:00Z",
                        ok=self.sync_ok,
                        error="" if self.sync_ok else "bucket unreachable: 503",
                        generation=1,
                    ),
                    local={m: tuple(v) for m, v in local.items()},
                    disk=DiskStatus(10**10, 10**9),
                )
            )
        )

    def cm_models(self) -> dict[str, Any]:
        """The config manager's status document, built with its contract type."""
        from modelfleet.contracts.node import (
            ConfigManagerStatus,
            LoadedVersion,
            ModelServingConfig,
            ModelStatus,
            TFServingReach,
        )

        models = {}
        config = {}
        for m, vs in self.models.items():
            versions = tuple(sorted(int(v) for v in vs))
            models[m] = ModelStatus(
                desired=versions,
                local=versions,
                loaded=tuple(LoadedVersion(int(v), s) for v, s in sorted(vs.items()))
                if self.tfserving_up
                else (),
            )
            config[m] = ModelServingConfig(versions)
        from modelfleet.contracts.schema import to_json

        status = ConfigManagerStatus(
            hostname=self.hostname,
            zone=self.zone,
            tfserving=TFServingReach(
                "127.0.0.1:8500",
                self.tfserving_up,
                None if self.tfserving_up else "connection refused",
            ),
            models=models,
            config=config,
            in_sync=self.tfserving_up,
        )
        return dict(to_json(status))


class NodeSim:
    """Serve many :class:`SimHost` s from one asyncio loop in a daemon thread."""

    def __init__(self, node_key: str) -> None:
        self.key = node_key
        self.hosts: dict[str, SimHost] = {}
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="nodesim")
        self._thread.start()

    def add_host(self, index: int, port: int, **kwargs: Any) -> SimHost:
        """Host number ``index`` listens on ``127.0.<index // 250 + 1>.<index % 250 + 2>``."""
        ip = f"127.0.{index // 250 + 1}.{index % 250 + 2}"
        host = SimHost(ip, port, **kwargs)
        self.hosts[ip] = host
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(
                lambda r, w, h=host: self._handle(h, r, w),
                ip,
                port,
                backlog=512,
                reuse_address=True,
            ),
            self.loop,
        )
        self._servers.append(fut.result(10))
        return host

    async def _handle(
        self, host: SimHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await reader.readline()
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            host.calls.append((method, path))
            host.authorized.append(headers.get("authorization") == f"Bearer {self.token(host)}")
            if host.hang:
                await asyncio.sleep(3600)
            if host.delay:
                await asyncio.sleep(host.delay)
            status, body = self._route(host, method, path, headers)
            data = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (ValueError, OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(
        self, host: SimHost, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"healthy": True}
        if headers.get("authorization") != f"Bearer {self.token(host)}":
            return 401, {"error": "missing or wrong cluster token"}
        if (method, path) == ("GET", "/api/v1/status"):
            return 200, host.puller_status()
        if (method, path) == ("POST", "/api/v1/sync"):
            return 202, {"accepted": True}
        if (method, path) == ("GET", "/api/v1/models"):
            return 200, host.cm_models()
        if (method, path) == ("POST", "/api/v1/reload"):
            return 200, {"applied": host.tfserving_up, "config_changed": False, "error": None}
        return 404, {"error": "no such endpoint"}

    def token(self, host: SimHost) -> str:
        """The host's own token (what its token file would hold)."""
        return node_token(self.key, host.hostname)

    def node_ports(self) -> str:
        """``MODELFLEET_NODE_PORTS`` for a master in front of this simulator."""
        ports = {h.port for h in self.hosts.values()}
        assert len(ports) == 1, "one simulator port per fleet"
        port = ports.pop()
        return ",".join(f"{service}={port}" for service in NODE_SERVICES)

    def register_all(self, master_url: str) -> None:
        """Register both daemons of every host with the master (one POST each)."""
        for host in self.hosts.values():
            self.register(host, master_url)

    def register(self, host: SimHost, master_url: str, token: str | None = None) -> int:
        """Both daemons' registrations from the host's own address, built with the
        registration's declaration; raises unless the master answers 200."""
        for service in NODE_SERVICES:
            status, body = self.post_registration(
                host.hostname,
                master_url,
                to_json(Registration(host.hostname, service, host.port, host.zone, "sim")),
                token or self.token(host),
            )
            if status != 200:
                raise RuntimeError(f"registration of {host.hostname} answered {status}: {body}")
        return 200

    @staticmethod
    def post_registration(source: str, master_url: str, body: Any, token: str) -> tuple[int, Any]:
        """One registration POST sent from address ``source``: (status, parsed body)."""
        parts = urlsplit(master_url)
        conn = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=10, source_address=(source, 0)
        )
        try:
            conn.request(
                "POST",
                "/api/v1/nodes/register",
                body=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw[:200]
        finally:
            conn.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
