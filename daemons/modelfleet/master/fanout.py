"""Fan-out of one HTTP call to many node daemons: bounded, with a per-node deadline.

The master must ask 1,000+ daemons at once without one dead node delaying the answer. It uses
one asyncio event loop per fan-out with a tiny HTTP/1.1 client (nodes speak plain HTTP on
their admin port, see docs/contracts.md): a semaphore bounds the number of calls in flight,
``asyncio.wait_for`` cuts each call at the deadline, and every node gets a result — its JSON
body, or an error (``timeout``, ``connection refused``, ``HTTP 503``…). Nothing raises.
Threads and ``requests`` would cost ~1 ms of CPU per call and a thread each; this costs a
coroutine and a socket.

Each call carries its own credential and the address to connect to: the node's own token,
sent only to the address the node registered from (:mod:`.identity`); the ``Host`` header
names the node. A call without an address is not made (``unverified address``): no
credential ever goes to an address nobody verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "CallResult", "FanOut"]


@dataclass(frozen=True)
class Call:
    """One call to make: ``key`` identifies the node daemon in the results; the call
    connects to ``address`` (verified) and names ``host`` in its Host header."""

    key: str
    host: str
    port: int
    method: str
    path: str
    body: dict[str, Any] | None = None
    address: str = ""
    token: str = ""


@dataclass
class CallResult:
    key: str
    ok: bool
    status: int = 0
    body: Any = None
    error: str = ""
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }


class HttpError(Exception):
    pass


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read()


async def http_call(
    host: str,
    port: int,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None,
    address: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    """One HTTP/1.1 request with ``Connection: close`` to ``address`` (default: ``host``),
    over TLS when ``tls`` is given (the node's certificate checked for ``host``); returns
    (status, parsed JSON or text)."""
    if tls is not None:
        reader, writer = await asyncio.open_connection(
            address or host, port, ssl=tls, server_hostname=host
        )
    else:
        reader, writer = await asyncio.open_connection(address or host, port)
    try:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
            f"User-Agent: modelfleet-master\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        writer.write(head + payload)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise HttpError(f"bad status line {status_line[:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await _read_body(reader, headers)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw[:200].decode("utf-8", "replace")
        return status, parsed
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()


class FanOut:
    """Run many :class:`Call` s concurrently; ``run`` is synchronous and never raises."""

    def __init__(
        self,
        *,
        concurrency: int = 200,
        deadline: float = 3.0,
        observe: Callable[[str, float, int, int], None] | None = None,
        ca_file: str | None = None,
    ) -> None:
        # Nodes behind TLS fronts: verified against the fleet CA (docs/contracts.md, TLS).
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.concurrency = concurrency
        self.deadline = deadline
        self.observe = observe

    def run(self, calls: Iterable[Call], deadline: float | None = None) -> dict[str, CallResult]:
        """Every call's result by key; returns within about ``deadline`` seconds."""
        calls = list(calls)
        if not calls:
            return {}
        start = time.monotonic()
        results = asyncio.run(self._run_all(calls, self.deadline if deadline is None else deadline))
        if self.observe is not None:
            failed = sum(1 for r in results.values() if not r.ok)
            self.observe(calls[0].path, time.monotonic() - start, len(results) - failed, failed)
        return results

    async def _run_all(self, calls: list[Call], deadline: float) -> dict[str, CallResult]:
        sem = asyncio.Semaphore(self.concurrency)
        results = await asyncio.gather(*(self._one(sem, c, deadline) for c in calls))
        return {r.key: r for r in results}

    async def _one(self, sem: asyncio.Semaphore, call: Call, deadline: float) -> CallResult:
        # The deadline covers waiting for a slot too: no node waits past it.
        start = time.monotonic()
        if not call.address:
            return CallResult(call.key, False, error="unverified address: not called")
        try:
            async with asyncio.timeout(deadline):
                async with sem:
                    status, body = await http_call(
                        call.host,
                        call.port,
                        call.method,
                        call.path,
                        call.token,
                        call.body,
                        call.address,
                        self.tls,
                    )
        except TimeoutError:
            return CallResult(
                call.key,
                False,
                error=f"timeout after {deadline:g}s",
                elapsed=time.monotonic() - start,
            )
        except (OSError, HttpError, ValueError, asyncio.IncompleteReadError) as exc:  # TLS too
            text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return CallResult(
                call.key, False, error=f"unreachable: {text}", elapsed=time.monotonic() - start
            )
        elapsed = time.monotonic() - start
        ok = 200 <= status < 300
        error = (
            ""
            if ok
            else f"HTTP {status}"
            + (f": {body.get('error')}" if isinstance(body, dict) and body.get("error") else "")
        )
        return CallResult(call.key, ok, status, body, error, elapsed)
