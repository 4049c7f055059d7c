"""Test helpers shared by every test package: waiting on conditions, ports, tokens.

No test sleeps and hopes: it waits on a condition with a deadline via :func:`wait_until`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` at the deadline.

    Exceptions raised by the predicate count as "not yet" (the last one is reported).
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or predicate}{detail}"
            )
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_loopback_subnet(ports: tuple[int, ...] = (8500, 8501, 8001, 8002, 8080)) -> str:
    """A ``127.a.b`` prefix no other process on this machine uses: several checkouts run
    local fleets at once, and a fixed subnet lets one run's servers answer another's calls.
    Checks ``.1`` and ``.254`` (the master) are free on ``ports``."""
    import random

    rng = random.SystemRandom()
    for _ in range(200):
        subnet = f"127.{rng.randint(20, 250)}.{rng.randint(0, 255)}"
        try:
            for host in (f"{subnet}.1", f"{subnet}.254"):
                for port in ports:
                    with socket.socket() as sock:
                        sock.bind((host, port))
        except OSError:
            continue
        return subnet
    raise RuntimeError("no free 127.x.y subnet found")


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def make_token_file(path: Path, token: str | None = None) -> str:
    token = token or secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return token


@contextmanager
def serving_process(
    argv: list[str], env: dict[str, str], port: int, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A daemon (``modelfleet master run`` …) listening on 127.0.0.1:``port`` for the block;
    SIGTERM after it, SIGKILL if it does not stop. Output goes to ``log`` when given."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=60, what=f"{argv[1:3]} listening")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
