"""Pull throughput: the puller's engine against naive and strong baselines, in the same run.

The bucket is far away and every stream is capped, as real GCS is: the GCS emulator sits
behind the fault proxy with 20 ms per request and 50 MiB/s per connection. Shapes:
(a) 200 files of 256 KiB, (b) one 512 MiB file (64 MiB with --quick). Baselines:
a sequential ``download_to_filename`` loop (what KServe's GCS agent does) and a pool of 16
threads each running naive downloads (what ``gsutil -m cp`` does per file), as many as the
puller's default download workers. The puller's
figure covers its whole path: manifest, listing, parallel/sliced fetch, crc32c of every file,
atomic install. (c) the local-directory backend against ``cp -r`` of the same tree (which
checks nothing), on a 114 MiB and a 562 MiB tree, interleaved over several rounds: the
record carries every round's ratio and the load average, as the machine is shared.

    python -m bench.pull [--quick]
    python -m bench.pull --local      (only (c); BENCH_ROUNDS rounds per tree, default 8)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    import google.api_core.exceptions  # noqa: F401

from modelfleet.localdir import LocalModelDir
from modelfleet.puller.downloader import pull_version
from modelfleet.store import adopt, open_store, publish, read_manifest

MiB = 1 << 20
_THREADED_EMULATOR = (
    "import sys, http.server as s; s.HTTPServer = s.ThreadingHTTPServer; "
    "from gcp_storage_emulator.__main__ import main; "
    "sys.argv[0] = 'gcp-storage-emulator'; sys.exit(main())"
)


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """A gcp-storage-emulator on loopback; yields its endpoint and sets STORAGE_EMULATOR_HOST.

    It answers requests in parallel, as GCS does: the emulator's own HTTP server handles one
    request at a time, which would queue every client behind whichever slice is being sent
    and measure the emulator, not the clients.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _THREADED_EMULATOR,
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("emulator did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def proxy_process(
    endpoint: str, *, mode: str = "latency", latency: float = 0.02, bandwidth_mib: float = 0
) -> Iterator[int]:
    """The fault proxy in front of ``endpoint``, in its own process (its threads must not
    share the measured process's GIL); yields its port."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.faultproxy",
            "--backend",
            endpoint.removeprefix("http://"),
            "--mode",
            mode,
            "--latency",
            str(latency),
            "--bandwidth-mib",
            str(bandwidth_mib),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline().split()[1])
    finally:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def far_away(endpoint: str, *, latency: float, bandwidth_mib: float) -> Iterator[None]:
    """Route this process's GCS requests through the fault proxy: ``latency`` per request
    and a bandwidth cap per connection, as a real bucket behaves and a loopback emulator
    does not."""
    with proxy_process(endpoint, latency=latency, bandwidth_mib=bandwidth_mib) as port:
        # The emulator's mediaLinks name the host the client used, so listings made from
        # here on point the naive loops at the proxy too.
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        try:
            yield
        finally:
            os.environ["STORAGE_EMULATOR_HOST"] = endpoint


def new_bucket() -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"bench-{uuid.uuid4().hex[:10]}"
    storage.Client(project="bench", credentials=AnonymousCredentials()).create_bucket(name)
    return f"gs://{name}"


def make_tree(root: Path, files: dict[str, int]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "saved_model.pb").write_bytes(os.urandom(4096))
    for rel, size in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            left = size
            while left:
                n = min(left, 8 * MiB)
                fh.write(os.urandom(n))
                left -= n
    return root


def best_of(runs: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(runs))


def puller_pull(url: str, model: str, version: int, work: Path, workers: int = 16) -> float:
    """Seconds for the puller's whole path: manifest, listing, fetch, verify, install."""
    local_root = Path(tempfile.mkdtemp(dir=work))
    store = open_store(url)
    local = LocalModelDir(local_root)
    local.prepare()
    start = time.perf_counter()
    manifest, _ = read_manifest(store, model, version)
    prefix = f"{model}/{version}/"
    listing = {o.key[len(prefix) :]: o for o in store.list_objects(f"{model}/{version}")}
    pull_version(store, local, manifest, listing, workers=workers, fsync=False)
    elapsed = time.perf_counter() - start
    shutil.rmtree(local_root)
    return elapsed


def _blobs(url: str, model: str, version: int) -> tuple[Any, str, list[Any]]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket_name, _, prefix = url[5:].partition("/")
    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    full = f"{prefix}/{model}/{version}/" if prefix else f"{model}/{version}/"
    return client, full, list(client.list_blobs(bucket_name, prefix=full))


def naive_gcs(url: str, model: str, version: int, work: Path, threads: int = 1) -> float:
    """``download_to_filename`` of every object: one after another (KServe's GCS agent), or
    from a pool of ``threads`` (``gsutil -m``). Listing included, as the puller's is."""
    from concurrent.futures import ThreadPoolExecutor

    dest = Path(tempfile.mkdtemp(dir=work))
    start = time.perf_counter()
    _client, full, blobs = _blobs(url, model, version)

    def one(listed: Any) -> None:
        target = dest / listed.name[len(full) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        # By name from the client's endpoint, as against real GCS: the emulator's mediaLinks
        # name whichever host the object was uploaded through.
        listed.bucket.blob(listed.name).download_to_filename(str(target))

    if threads == 1:
        for blob in blobs:
            one(blob)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, blobs))
    elapsed = time.perf_counter() - start
    shutil.rmtree(dest)
    return elapsed


def cp_r(src: Path, work: Path) -> float:
    dest = Path(tempfile.mkdtemp(dir=work)) / "copy"
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dest)], check=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(dest.parent)
    return elapsed


def record(name: str, nbytes: int, ours: float, base: float, goal: float) -> dict[str, Any]:
    value = nbytes / MiB / ours
    baseline = nbytes / MiB / base
    ratio = value / baseline
    return {
        "name": name,
        "value": round(value, 1),
        "unit": "MiB/s",
        "baseline": round(baseline, 1),
        "ratio": round(ratio, 2),
        "goal": f">= {goal}x",
        "pass": ratio >= goal,
    }


def local_tree(work: Path, big_mib: int) -> tuple[str, Path]:
    """A local bucket holding ``mixed/2``: 200 x 256 KiB files and one ``big_mib`` MiB file
    (114 MiB in all with 64, 562 MiB with 512); returns the bucket and the version's tree."""
    small = make_tree(work / "small", {f"variables/shard-{i:03d}": 256 * 1024 for i in range(200)})
    big = make_tree(work / "big", {"variables/variables.data-00000-of-00001": big_mib * MiB})
    bucket = work / "bucket"
    bucket.mkdir()
    lstore = open_store(str(bucket))
    publish(lstore, small, "mixed", 1, workers=8)
    shutil.copytree(big / "variables", bucket / "mixed" / "2" / "variables")
    shutil.copy(big / "saved_model.pb", bucket / "mixed" / "2" / "saved_model.pb")
    shutil.copytree(small / "variables", bucket / "mixed" / "2" / "small", dirs_exist_ok=True)
    adopt(lstore, "mixed", 2)
    shutil.rmtree(small)
    shutil.rmtree(big)
    return str(bucket), bucket / "mixed" / "2"


def run_local(big_mib: int, rounds: int) -> dict[str, Any]:
    """(c) the local-directory backend against ``cp -r`` of the same tree, interleaved so
    both see the same machine state; the ratio of the best times, and each round's."""
    with tempfile.TemporaryDirectory(prefix="bench-pull-local-") as tmp:
        work = Path(tmp)
        bucket, src_tree = local_tree(work, big_mib)
        tree_bytes = sum(p.stat().st_size for p in src_tree.rglob("*") if p.is_file())
        ours, base, loads = [], [], []
        for _ in range(rounds):
            base.append(cp_r(src_tree, work))
            ours.append(puller_pull(bucket, "mixed", 2, work))
            loads.append(os.getloadavg()[0])
    rec = record(
        f"pull_local_{tree_bytes // MiB}MiB_vs_cp_r", tree_bytes, min(ours), min(base), 0.9
    )
    per_round = sorted(b / o for b, o in zip(base, ours, strict=True))
    rec["rounds"] = (
        f"{per_round[0]:.2f}-{per_round[-1]:.2f} (median {per_round[len(per_round) // 2]:.2f})"
    )
    rec["load"] = f"{min(loads):.1f}-{max(loads):.1f}"
    return rec


def run(quick: bool = False) -> list[dict[str, Any]]:
    records = []
    runs = 2 if quick else 3
    big_size = (64 if quick else 512) * MiB
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        work = Path(tmp)
        small = make_tree(
            work / "small", {f"variables/shard-{i:03d}": 256 * 1024 for i in range(200)}
        )
        small_bytes = sum(p.stat().st_size for p in small.rglob("*") if p.is_file())
        big = make_tree(work / "big", {"variables/variables.data-00000-of-00001": big_size})
        big_bytes = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
        with emulator() as endpoint:
            url = new_bucket()
            store = open_store(url)
            publish(store, small, "small", 1, workers=16)
            publish(store, big, "big", 1, workers=4)
            with far_away(endpoint, latency=0.02, bandwidth_mib=50):
                for model, nbytes, label, goal in (
                    ("small", small_bytes, "200x256KiB", 2.0),
                    ("big", big_bytes, f"1x{big_size // MiB}MiB", 1.0),
                ):
                    ours = best_of(runs, lambda m=model: puller_pull(url, m, 1, work))
                    naive = best_of(1, lambda m=model: naive_gcs(url, m, 1, work))
                    pool = best_of(runs, lambda m=model: naive_gcs(url, m, 1, work, threads=16))
                    name = f"pull_{label}_gcs_20ms_50MiBps"
                    records.append(record(f"{name}_vs_naive_loop", nbytes, ours, naive, goal))
                    records.append(record(f"{name}_vs_thread_pool", nbytes, ours, pool, 1.0))
    # (c) local backend vs cp -r: both trees in every run (the small one in --quick).
    for big_mib in (64,) if quick else (64, 512):
        records.append(run_local(big_mib, runs + 5))
    return records


if __name__ == "__main__":
    if "--local" in sys.argv:  # only (c), e.g. to measure it several times on a busy machine
        for mib in (64, 512):
            print(run_local(mib, int(os.environ.get("BENCH_ROUNDS", "8"))))
        sys.exit(0)
    for r in run(quick="--quick" in sys.argv):
        print(r)
