"""Idle RSS and CPU of a node daemon (goal for the puller: <= 80 MB RSS, < 1 % CPU).

:func:`measure_daemon` takes any command line + environment (the config manager's case can
be added with one call), starts it in its own process group, waits for ``/healthz``, then
samples every process of the group from /proc over an idle window: RSS summed (gunicorn
arbiter + worker) and per process, and CPU time / wall time. The baseline, measured in the
same run, is a bare Python interpreter sleeping: the floor any Python daemon pays.

    python -m bench.footprint [--quick]
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return sorted(pids)


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def _pss_bytes(pid: int) -> int:
    """Proportional set size: shared (copy-on-write) pages split between the processes."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return _rss_bytes(pid)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure_daemon(
    cmd: list[str], env: dict[str, str], health_url: str | None, idle_seconds: float
) -> dict[str, Any]:
    """Start ``cmd``, wait until healthy, then measure RSS and CPU over ``idle_seconds``."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while health_url:
            try:
                with urllib.request.urlopen(health_url, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} did not become healthy")
            time.sleep(0.2)
        time.sleep(2)  # let start-up work (first sync, imports) settle before measuring
        pids = _group_pids(proc.pid)
        cpu0 = {p: _cpu_seconds(p) for p in pids}
        t0 = time.monotonic()
        time.sleep(idle_seconds)
        wall = time.monotonic() - t0
        pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
        cpu = sum(_cpu_seconds(p) - cpu0.get(p, 0.0) for p in pids)
        rss = {p: _rss_bytes(p) for p in pids}
        pss = sum(_pss_bytes(p) for p in pids)
        return {
            "rss_total": sum(rss.values()),
            "pss_total": pss,
            "rss_per_process": rss,
            "cpu_percent": 100 * cpu / wall,
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def puller_case(work: Path) -> tuple[list[str], dict[str, str], str]:
    """Command, env and health URL of an idle puller on a local bucket with one model."""
    bucket, local, state = work / "bucket", work / "local", work / "state"
    for d in (bucket, local, state):
        d.mkdir(parents=True, exist_ok=True)
    src = work / "src"
    src.mkdir(exist_ok=True)
    (src / "saved_model.pb").write_bytes(os.urandom(1 << 20))
    from modelfleet.store import open_store, publish

    publish(open_store(str(bucket)), src, "m")
    port = _free_port()
    env = {
        **os.environ,
        "LOCAL_MODEL_DIRECTORY": str(local),
        "REMOTE_MODEL_DIRECTORY": str(bucket),
        "MODELFLEET_STATE_DIR": str(state),
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_DISK_RESERVE_MB": "0",
    }
    cmd = [str(Path(sys.executable).parent / "modelfleet"), "puller", "run"]
    return cmd, env, f"http://127.0.0.1:{port}/healthz"


def _records(service: str, ours: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    """The same four figures for every daemon; baseline = an idle bare Python process."""
    mb = 1e6
    per_proc = sorted(ours["rss_per_process"].values())
    return [
        {
            "name": f"{service}_idle_pss_total",
            "value": round(ours["pss_total"] / mb, 1),
            "unit": "MB (PSS, shared pages counted once)",
            "baseline": round(base["pss_total"] / mb, 1),
            "ratio": round(ours["pss_total"] / base["pss_total"], 2),
            "goal": "<= 80 MB",
            "pass": ours["pss_total"] / mb <= 80,
        },
        {
            "name": f"{service}_idle_rss_total",
            "value": round(ours["rss_total"] / mb, 1),
            "unit": "MB (RSS summed, shared pages twice)",
            "baseline": round(base["rss_total"] / mb, 1),
            "ratio": round(ours["rss_total"] / base["rss_total"], 2),
            "goal": "<= 80 MB",
            "pass": ours["rss_total"] / mb <= 80,
        },
        {
            "name": f"{service}_idle_rss_per_process",
            "value": " + ".join(f"{r / mb:.1f}" for r in per_proc),
            "unit": "MB (arbiter, worker)",
            "baseline": round(base["rss_total"] / mb, 1),
            "ratio": round(max(per_proc) / base["rss_total"], 2),
            "goal": "<= 500 MB each (RUNBOOK)",
            "pass": max(per_proc) / mb <= 500,
        },
        {
            "name": f"{service}_idle_cpu",
            "value": round(ours["cpu_percent"], 2),
            "unit": "% of one core",
            "baseline": round(base["cpu_percent"], 2),
            "ratio": None,
            "goal": "< 1 %",
            "pass": ours["cpu_percent"] < 1,
        },
    ]


def baseline(idle: float) -> dict[str, Any]:
    return measure_daemon(
        [sys.executable, "-c", "import time; time.sleep(3600)"], dict(os.environ), None, idle
    )


def run_puller(quick: bool = False, base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    idle = 8.0 if quick else 20.0
    base = base or baseline(idle)
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        cmd, env, health = puller_case(Path(tmp))
        ours = measure_daemon(cmd, env, health, idle)
    return _records("puller", ours, base)


def run_configmanager(
    quick: bool = False, base: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """config_manager idle footprint, serving one model from a no-TF dev server."""
    idle = 8.0 if quick else 20.0
    with tempfile.TemporaryDirectory(prefix="bench-footprint-cm-") as tmp:
        work = Path(tmp)
        local, state = work / "local", work / "state"
        _install_one_version(local, work / "src")
        exe = str(Path(sys.executable).parent / "modelfleet")
        grpc_port, port = _free_port(), _free_port()
        dev = subprocess.Popen(
            [
                exe,
                "devserver",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(grpc_port),
                "--mode",
                "no-tensorflow",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            env = {
                **os.environ,
                "LOCAL_MODEL_DIRECTORY": str(local),
                "TENSORFLOW_SERVING_CONFIG_FILE": str(work / "models.config"),
                "TENSORFLOW_SERVING_GRPC_TARGET": f"127.0.0.1:{grpc_port}",
                "MODELFLEET_STATE_DIR": str(state),
                "MODELFLEET_BIND": f"127.0.0.1:{port}",
            }
            ours = measure_daemon(
                [exe, "configmanager", "run"], env, f"http://127.0.0.1:{port}/readyz", idle
            )
        finally:
            dev.terminate()
            dev.wait(timeout=15)
    return _records("configmanager", ours, base or baseline(idle))


def _install_one_version(local: Path, src: Path) -> None:
    """``m``/1 installed as the puller installs it (manifest, rename), and desired."""
    from modelfleet.localdir import DesiredModel, LocalDesired, LocalModelDir
    from modelfleet.store import manifest_from_dir

    src.mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"x" * 1024)
    local_dir = LocalModelDir(local)
    local.mkdir(parents=True)
    local_dir.write_desired(LocalDesired({"m": DesiredModel(versions=(1,))}))
    staging = local_dir.new_staging("m", 1)
    (staging / "saved_model.pb").write_bytes((src / "saved_model.pb").read_bytes())
    local_dir.install(staging, manifest_from_dir(staging, "m", 1), fsync=False)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both node daemons, one after the other (never measured side by side)."""
    base = baseline(8.0 if quick else 20.0)
    return run_puller(quick, base) + run_configmanager(quick, base)


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
