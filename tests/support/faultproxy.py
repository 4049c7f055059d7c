"""A fault-injecting TCP proxy for an HTTP backend (the GCS emulator), for chaos tests.

Modes, switchable at any time (switching closes every open connection so clients see the
new behaviour at once, as they would when a load balancer in front of GCS changes state):

- ``pass``: forward bytes both ways;
- ``error``: answer every request with ``503 Service Unavailable`` (GCS's retryable error);
- ``reset``: accept, then close the connection with a TCP reset;
- ``blackhole``: accept and never answer (clients hit their timeouts);
- ``slow``: forward, but at most ``slow_bytes_per_s`` from the backend;
- ``latency``: forward, each request delayed by ``latency_s`` (a far-away bucket: what real
  GCS costs per request, which a local emulator does not);

``bandwidth_bytes_per_s`` (0 = unlimited) caps every connection's download direction in the
forwarding modes: GCS serves one stream at a bounded rate, so parallel streams and ranged
slices matter there as they do not on loopback.
- ``flaky``: per connection, one of pass / error / reset / slow at random.
"""

from __future__ import annotations

import contextlib
import queue
import random
import socket
import struct
import threading
import time

__all__ = ["FaultProxy"]

MODES = ("pass", "error", "reset", "blackhole", "slow", "latency", "flaky")


class FaultProxy:
    def __init__(self, backend: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.backend = backend
        self.mode = "pass"
        self.slow_bytes_per_s = 64 * 1024
        self.latency_s = 0.02
        self.bandwidth_bytes_per_s = 0
        self.connections = 0
        self._server = socket.create_server((host, 0))
        self.port = int(self._server.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(7)
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        with self._lock:
            for sock in list(self._open):
                self._abort(sock)
            self._open.clear()

    @staticmethod
    def _abort(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.set_mode("pass")

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _handle(self, client: socket.socket) -> None:
        mode = self.mode
        if mode == "flaky":
            mode = self._rng.choice(("pass", "pass", "error", "reset", "slow"))
        if mode == "reset":
            self._abort(client)
            return
        self._track(client)
        if mode == "blackhole":
            return  # held open until the mode changes or the client gives up
        if mode == "error":
            with contextlib.suppress(OSError):
                client.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
                )
            self._abort(client)
            return
        try:
            upstream = socket.create_connection(self.backend, timeout=5)
        except OSError:
            self._abort(client)
            return
        self._track(upstream)
        rate = self.slow_bytes_per_s if mode == "slow" else self.bandwidth_bytes_per_s
        delay = self.latency_s if mode == "latency" else 0.0
        threading.Thread(target=self._pipe, args=(client, upstream, 0, delay), daemon=True).start()
        self._pipe(upstream, client, rate)

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: int, delay: float = 0) -> None:
        if rate:
            self._pipe_paced(src, dst, rate)
            return
        try:
            while True:
                chunk = src.recv(262144)
                if not chunk:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def _pipe_paced(self, src: socket.socket, dst: socket.socket, rate: int) -> None:
        """Deliver to ``dst`` at ``rate`` bytes/s while reading ``src`` as fast as it sends:
        a backend that serves one request at a time (the emulator) must not be held up by
        one slow connection, or the cap would throttle every connection together."""
        chunks: queue.SimpleQueue[bytes] = queue.SimpleQueue()

        def read() -> None:
            try:
                while chunk := src.recv(262144):
                    chunks.put(chunk)
            except OSError:
                pass
            finally:
                chunks.put(b"")

        threading.Thread(target=read, daemon=True).start()
        piece = max(1024, min(262144, rate // 50))
        started, sent = time.monotonic(), 0
        try:
            while chunk := chunks.get():
                if time.monotonic() - started > sent / rate + 0.05:
                    started, sent = time.monotonic(), 0  # idle (keep-alive): no saved-up burst
                for i in range(0, len(chunk), piece):
                    dst.sendall(chunk[i : i + piece])
                    sent += min(piece, len(chunk) - i)
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0.001:
                        time.sleep(ahead)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


def main(argv: list[str] | None = None) -> None:
    """Run a proxy in its own process (benchmarks: its threads must not share the measured
    process's GIL). Prints ``PORT <n>`` once listening, then serves until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="fault-injecting TCP proxy")
    parser.add_argument("--backend", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--mode", default="pass", choices=MODES)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--bandwidth-mib", type=float, default=0, help="MiB/s per connection")
    args = parser.parse_args(argv)
    host, _, port = args.backend.rpartition(":")
    proxy = FaultProxy((host, int(port)))
    proxy.latency_s = args.latency
    proxy.bandwidth_bytes_per_s = int(args.bandwidth_mib * (1 << 20))
    proxy.set_mode(args.mode)
    print(f"PORT {proxy.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
