"""Slow and idle clients against the master and a node admin API, with and without the front.

The figure of the issue: API p99 latency with 200 slow connections held open, against the
p99 of the same API idle, measured in the same run (goal: at most 2x). Slow clients come from 200
loopback addresses, half idle, half trickling header bytes (tests/support/slowclients.py).

- ``front``: the production serving, Debian's nginx with the roles' own front.conf.j2 in front
  of gunicorn (gthread) — nginx reads whole requests with deadlines before gunicorn sees them;
- ``direct``: gunicorn alone, as before the front: its threads wait on slow clients.

Also the per-client cap (connections beyond it get 429 at once) and the front's memory.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelfleet.tokens import node_token
from tests.support.front import NGINX, Front, FrontSpec
from tests.support.helpers import (
    free_port,
    make_token_file,
    serving_process,
    wait_until,
)
from tests.support.slowclients import Latency, SlowClients, latency

SLOW = 200
EXE = str(Path(sys.executable).parent / "modelfleet")


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@contextmanager
def master(tmp: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A real master (gunicorn, the production settings) on 127.0.0.1: (port, read headers)."""
    tokens = {n: make_token_file(tmp / f"{n}.token") for n in ("admin", "readonly", "node-key")}
    (tmp / "bucket").mkdir(exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_STATE_DIR": str(tmp / "state"),
        "REMOTE_MODEL_DIRECTORY": str(tmp / "bucket"),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(tmp / "admin.token"),
        "MODELFLEET_READONLY_TOKEN_FILE": str(tmp / "readonly.token"),
        "MODELFLEET_NODE_KEY_FILE": str(tmp / "node-key.token"),
        "MODELFLEET_TRUSTED_PROXIES": "127.0.0.1",
        "MODELFLEET_LOG_LEVEL": "WARNING",
    }
    with serving_process([EXE, "master", "run"], env, port):
        yield port, {"Authorization": f"Bearer {tokens['readonly']}"}


@contextmanager
def puller(tmp: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A real remote_model_puller (gunicorn) on 127.0.0.1: (port, its own token header)."""
    for sub in ("bucket", "local", "state"):
        (tmp / sub).mkdir(exist_ok=True)
    token = node_token("k" * 32, "127.0.0.1")
    make_token_file(tmp / "node.token", token)
    port = free_port()
    env = {
        **os.environ,
        "HOSTNAME": "127.0.0.1",
        "LOCAL_MODEL_DIRECTORY": str(tmp / "local"),
        "REMOTE_MODEL_DIRECTORY": str(tmp / "bucket"),
        "MODELFLEET_STATE_DIR": str(tmp / "state"),
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_CLUSTER_TOKEN_FILE": str(tmp / "node.token"),
        "MODELFLEET_LOG_LEVEL": "WARNING",
    }
    with serving_process([EXE, "puller", "run"], env, port):
        yield port, {"Authorization": f"Bearer {token}"}


@contextmanager
def front(tmp: Path, name: str, upstream: int) -> Iterator[tuple[int, Front]]:
    port = free_port()
    f = Front(tmp / f"front-{name}", FrontSpec(name, f"127.0.0.1:{port}", f"127.0.0.1:{upstream}"))
    f.start()
    try:
        yield port, f
    finally:
        f.stop()


def under_slow_clients(port: int, path: str, headers: dict[str, str], n: int, slow: int) -> Latency:
    with SlowClients("127.0.0.1", port, slow) as clients:
        wait_until(lambda: clients.opened >= slow, timeout=30, what="slow connections open")
        time.sleep(1.5)  # every slow connection has sent (or not) its first bytes
        return latency("127.0.0.1", port, path, headers, count=n, timeout=3.0)


def per_client_cap(port: int, opened: int = 64) -> tuple[int, int]:
    """(connections held, connections refused with 429) when one address opens ``opened``."""
    socks = []
    refused = 0
    try:
        for _ in range(opened):
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            # whole headers, a body that never comes: the request counts against the cap
            s.sendall(
                b"POST /api/v1/nodes/register HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            socks.append(s)
        time.sleep(0.5)
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            if data.startswith(b"HTTP/1.1 429"):
                refused += 1
        return opened - refused, refused
    finally:
        for s in socks:
            s.close()


def _record(
    name: str, value: float, unit: str, baseline: float | None, goal: str, ok: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 4),
        "ratio": round(value / baseline, 3) if baseline else None,
        "goal": goal,
        "pass": bool(ok),
    }


def measure(service: str, quick: bool = False) -> list[dict[str, Any]]:
    n = 100 if quick else 300
    slow = 100 if quick else SLOW
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-slow-{service}-"))
    run = master if service == "master" else puller
    path = "/api/v1/nodes" if service == "master" else "/api/v1/status"
    out = []
    try:
        with run(tmp) as (app_port, headers):
            with front(tmp, service, app_port) as (front_port, f):
                idle = latency("127.0.0.1", front_port, path, headers, count=n)
                held = under_slow_clients(front_port, path, headers, n, slow)
                nginx_rss = _rss_mb(f.pids())
                kept, refused = per_client_cap(front_port)
            direct_idle = latency("127.0.0.1", app_port, path, headers, count=n)
            direct = under_slow_clients(app_port, path, headers, min(n, 20), slow)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.append(
        _record(
            f"{service}_p99_{slow}_slow_clients_front_s",
            held.p99,
            "s",
            idle.p99,
            "<= 2x idle",
            held.failures == 0 and held.p99 <= 2 * idle.p99,
        )
    )
    out.append(
        _record(
            f"{service}_p99_{slow}_slow_clients_gunicorn_alone_s",
            direct.p99,
            "s",
            direct_idle.p99,
            f"(before the front; {direct.failures}/{direct.count} failed)",
            True,
        )
    )
    out.append(
        _record(
            f"{service}_front_per_client_cap_held",
            kept,
            "connections",
            64,
            "32 held, rest 429",
            kept <= 32 and refused > 0,
        )
    )
    out.append(
        _record(f"{service}_front_nginx_rss_mb", nginx_rss, "MB", None, "small", nginx_rss < 50)
    )
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    if not Path(NGINX).exists():
        return [_record("slowclients_skipped_no_nginx", 0, "-", None, "install nginx", False)]
    return measure("master", quick) + measure("remote_model_puller", quick)


if __name__ == "__main__":
    for record in run("--quick" in sys.argv):
        print(record)
