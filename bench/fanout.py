"""Benchmark: cluster status across 1,000 simulated nodes, fan-out vs a sequential loop.

A real master (``modelfleet master run`` → gunicorn, one worker) with 1,000 hosts registered
(puller + config manager each = 2,000 daemons), simulated on loopback (``tests/support/nodesim.py``,
one asyncio loop, each host on its own 127.0.x.y) answering after ~50 ms.

- ``status_fanout_seconds``: wall time of ``GET /api/v1/cluster/status?fresh=true`` (2,000
  calls through the bounded fan-out).
- ``status_sequential_seconds``: the same two calls per host in a plain sequential loop
  (``requests``), measured on a sample of hosts and extrapolated linearly to all hosts (the
  full loop would take ~100 s; the sample size is in the result's name).
- ``fanout_speedup``: sequential / fan-out, goal 50x or more.
- ``master_rss_mb``: resident memory of the master (gunicorn arbiter + worker) after the
  status call with 1,000 hosts registered, goal ≤ 150 MB.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.helpers import make_token_file, port_open, wait_until
from tests.support.nodesim import NodeSim, free_port

DELAY = 0.05


def _rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children (gunicorn arbiter + worker), in MB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _result(name: str, value: float, unit: str, baseline: float, goal: str, ok: bool) -> dict:
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": round(baseline, 4),
        "ratio": round(value / baseline, 3) if baseline else None,
        "goal": goal,
        "pass": bool(ok),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_hosts = 200 if quick else 1000
    sample = 20 if quick else 50
    tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    tokens = {n: make_token_file(tmp / f"{n}.token") for n in ("admin", "readonly", "node-key")}
    (tmp / "bucket").mkdir()
    port = free_port()
    env = {
        **os.environ,
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_STATE_DIR": str(tmp / "state"),
        "REMOTE_MODEL_DIRECTORY": str(tmp / "bucket"),
        "MODELFLEET_ADMIN_TOKEN_FILE": str(tmp / "admin.token"),
        "MODELFLEET_READONLY_TOKEN_FILE": str(tmp / "readonly.token"),
        "MODELFLEET_NODE_KEY_FILE": str(tmp / "node-key.token"),
        "MODELFLEET_HEARTBEAT_INTERVAL": "600",
        "MODELFLEET_LOG_LEVEL": "WARNING",
    }
    exe = str(Path(sys.executable).parent / "modelfleet")
    sim_port = free_port()
    env["MODELFLEET_NODE_PORTS"] = f"remote_model_puller={sim_port},config_manager={sim_port}"
    master = subprocess.Popen([exe, "master", "run"], env=env, stdout=subprocess.DEVNULL)
    sim = NodeSim(tokens["node-key"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=60, what="master")
        for i in range(n_hosts):
            sim.add_host(
                i, sim_port, zone=f"zone{i % 5 + 1}", models={"m": {"1": "AVAILABLE"}}, delay=DELAY
            )
        sim.register_all(url)
        headers = {"Authorization": f"Bearer {tokens['readonly']}"}
        # warm-up (first fan-out: imports, first connections), then the measured call
        requests.get(f"{url}/api/v1/cluster/status?fresh=true", headers=headers, timeout=60)
        started = time.monotonic()
        resp = requests.get(f"{url}/api/v1/cluster/status?fresh=true", headers=headers, timeout=60)
        fanout = time.monotonic() - started
        body = resp.json()
        assert body["summary"]["hosts"] == n_hosts, body["summary"]
        answered = body["summary"]["answered"]
        rss = _rss_mb(master.pid)
        # sequential loop, as a naive master would do it
        session = requests.Session()
        hosts = list(sim.hosts.values())[:sample]
        started = time.monotonic()
        for h in hosts:
            auth = {"Authorization": f"Bearer {sim.token(h)}"}
            for path in ("/api/v1/status", "/api/v1/models"):
                session.get(f"http://{h.hostname}:{h.port}{path}", headers=auth, timeout=10)
        sequential = (time.monotonic() - started) / sample * n_hosts
    finally:
        sim.close()
        master.send_signal(signal.SIGTERM)
        master.wait(30)
    speedup = sequential / fanout
    return [
        _result(
            f"status_fanout_seconds_{n_hosts}_hosts",
            fanout,
            "s",
            sequential,
            "≤ sequential/50",
            speedup >= 50 and answered == 2 * n_hosts,
        ),
        _result(
            f"status_sequential_seconds_{n_hosts}_hosts_from_{sample}",
            sequential,
            "s",
            sequential,
            "baseline",
            True,
        ),
        _result("fanout_speedup", speedup, "x", 50.0, "≥ 50x", speedup >= 50),
        _result(f"master_rss_mb_{n_hosts}_hosts", rss, "MB", 150.0, "≤ 150 MB", rss <= 150),
    ]


if __name__ == "__main__":
    results = run(quick="--quick" in sys.argv)
    for r in results:
        print(
            f"{r['name']:48} {r['value']:>10} {r['unit']:3} goal {r['goal']:>16} "
            f"{'PASS' if r['pass'] else 'FAIL'}"
        )
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
