"""A DNS server for a local fleet: dnsmasq on loopback answering the TF Serving service name.

Production callers reach TF Serving through one name with an A record per in-service node,
and drains work by taking records away (roles/dns). A local fleet gets the same thing with a
dnsmasq of its own on a loopback address and port: the name's records live in a hosts file
that :meth:`LocalDNS.set_records` rewrites atomically and dnsmasq re-reads on SIGHUP, answered
with a short TTL. Clients dial ``dns://ADDRESS:PORT/NAME:8500`` (gRPC asks that server
directly), so nothing on the machine's own resolver changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LocalDNS", "LocalDNSError"]


class LocalDNSError(RuntimeError):
    """dnsmasq is missing or did not start."""


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class LocalDNS:
    """dnsmasq serving ``name`` → the given addresses, and nothing else (no upstream)."""

    def __init__(
        self,
        root: Path,
        *,
        name: str = "tfserving.localfleet",
        address: str = "127.0.0.1",
        port: int = 0,
        ttl: int = 1,
    ) -> None:
        self.root = Path(root)
        self.name = name
        self.address = address
        self.port = port or _free_udp_port(address)
        self.ttl = ttl
        self.records_file = self.root / "dns" / "serving.hosts"
        self.records: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None

    def grpc_target(self, port: int = 8500) -> str:
        """The target a gRPC client dials to resolve the service name through this server."""
        return f"dns://{self.address}:{self.port}/{self.name}:{port}"

    def set_records(self, addresses: Iterable[str]) -> None:
        """Answer ``name`` with exactly these addresses from now on (atomic, then SIGHUP)."""
        self.records = sorted(set(addresses))
        self.records_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.records_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{a} {self.name}\n" for a in self.records))
        os.replace(tmp, self.records_file)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def start(self, addresses: Iterable[str], timeout: float = 10.0) -> LocalDNS:
        binary = shutil.which("dnsmasq") or (
            "/usr/sbin/dnsmasq" if Path("/usr/sbin/dnsmasq").exists() else None
        )
        if binary is None:
            raise LocalDNSError("dnsmasq is not installed (scripts/install-system-deps.sh)")
        self.set_records(addresses)
        argv = [
            binary,
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            f"--addn-hosts={self.records_file}",
            f"--listen-address={self.address}",
            "--bind-interfaces",
            f"--port={self.port}",
            f"--local-ttl={self.ttl}",
            "--cache-size=0",
            f"--pid-file={self.root / 'dns' / 'dnsmasq.pid'}",
            f"--log-facility={self.root / 'dns' / 'dnsmasq.log'}",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")  # no privilege drop: it must read the records file
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode()
                raise LocalDNSError(f"dnsmasq exited: {err.strip()[-500:]}")
            if self.resolve():
                return self
            time.sleep(0.05)
        self.stop()
        raise LocalDNSError(f"dnsmasq did not answer on {self.address}:{self.port}")

    def resolve(self) -> list[str]:
        """Ask the server for the name's A records (a minimal DNS query; [] on no answer)."""
        query_id = os.getpid() & 0xFFFF
        question = (
            b"".join(bytes([len(label)]) + label.encode() for label in self.name.split("."))
            + b"\x00\x00\x01\x00\x01"
        )
        packet = query_id.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            try:
                sock.sendto(packet + question, (self.address, self.port))
                data, _ = sock.recvfrom(4096)
            except OSError:
                return []
        answers = int.from_bytes(data[6:8], "big")
        pos = 12 + len(question)
        found = []
        for _ in range(answers):
            if data[pos] & 0xC0 == 0xC0:
                pos += 2
            else:
                while data[pos]:
                    pos += data[pos] + 1
                pos += 1
            rtype = int.from_bytes(data[pos : pos + 2], "big")
            length = int.from_bytes(data[pos + 8 : pos + 10], "big")
            rdata = data[pos + 10 : pos + 10 + length]
            if rtype == 1 and length == 4:
                found.append(".".join(str(b) for b in rdata))
            pos += 10 + length
        return sorted(found)

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def __enter__(self) -> LocalDNS:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
