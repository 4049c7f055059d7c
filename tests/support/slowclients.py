"""Slow and idle HTTP clients, and the latency an API keeps while they hold connections.

:class:`SlowClients` keeps ``count`` connections open to a server, each from its own loopback
address (so a per-address cap does not hide the effect): half send nothing at all (idle
connections), half trickle a request's headers one byte a second (slowloris). A connection
the server closes is opened again at once, so the server faces ``count`` slow clients the
whole time. :func:`latency` measures requests of a well-behaved client meanwhile.
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Latency", "SlowClients", "latency"]


class SlowClients:
    def __init__(self, host: str, port: int, count: int, *, subnet: str = "127.0.60") -> None:
        self.target = (host, port)
        self.sources = [f"{subnet}.{i % 250 + 1}" for i in range(count)]
        self.count = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="slowclients")
        self.opened = 0
        self.reopened = 0

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _open(self, index: int) -> socket.socket | None:
        sock = socket.socket()
        try:
            sock.bind((self.sources[index], 0))
            sock.settimeout(2)
            sock.connect(self.target)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        self.opened += 1
        if index % 2:
            with contextlib.suppress(OSError):
                sock.send(b"GET /api/v1/nodes HTTP/1.1\r\nHost: slow\r\n")
        return sock

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        socks: dict[int, socket.socket] = {}
        try:
            for i in range(self.count):
                s = self._open(i)
                if s is not None:
                    socks[i] = s
                    sel.register(s, selectors.EVENT_READ, i)
            last_trickle = time.monotonic()
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    i = key.data
                    s = socks.pop(i)
                    sel.unregister(s)
                    with contextlib.suppress(OSError):
                        s.recv(65536)
                    s.close()
                    again = self._open(i)  # the server gave up on it: come back at once
                    self.reopened += 1
                    if again is not None:
                        socks[i] = again
                        sel.register(again, selectors.EVENT_READ, i)
                if time.monotonic() - last_trickle >= 1.0:
                    last_trickle = time.monotonic()
                    for i, s in socks.items():
                        if i % 2:
                            with contextlib.suppress(OSError):
                                s.send(b"X")  # one more byte of a header line that never ends
        finally:
            for s in socks.values():
                s.close()
            sel.close()


@dataclass
class Latency:
    p50: float
    p99: float
    failures: int
    count: int


def latency(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    count: int,
    timeout: float = 3.0,
    ok: Callable[[int], bool] = lambda status: status == 200,
) -> Latency:
    """``count`` requests, each on a new connection; a failure (error, timeout, bad status)
    counts as ``timeout`` seconds."""
    times: list[float] = []
    failures = 0
    for _ in range(count):
        started = time.monotonic()
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            good = ok(resp.status)
        except (OSError, http.client.HTTPException):
            good = False
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        if not good:
            failures += 1
            elapsed = max(elapsed, timeout)
        times.append(elapsed)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return Latency(statistics.median(times), p99, failures, count)
