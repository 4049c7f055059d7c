"""Pull throughput: the puller against naive baselines, measured in the same run.

(a) 200 files of 256 KiB and (b) one 512 MiB file (64 MiB with --quick) from the GCS
emulator: the puller (parallel files, sliced large objects, crc32c verification, atomic
install) against a sequential ``download_to_filename`` loop — what KServe's GCS agent
does. (c) the local-directory backend against ``cp -r`` of the same tree.

    python -m bench.pull [--quick]
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
from modelfleet.store import open_store, publish, read_manifest
from tests.support.faultproxy import FaultProxy

MiB = 1 << 20


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """A gcp-storage-emulator on loopback; yields its endpoint and sets STORAGE_EMULATOR_HOST."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    proc = subprocess.Popen(
        [binary, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
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


def puller_pull(url: str, model: str, version: int, work: Path, workers: int = 4) -> float:
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


def naive_gcs(url: str, model: str, version: int, work: Path) -> float:
    """Sequential download_to_filename of every object (KServe's GCS agent)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket_name, _, prefix = url[5:].partition("/")
    dest = Path(tempfile.mkdtemp(dir=work))
    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    start = time.perf_counter()
    full = f"{prefix}/{model}/{version}/" if prefix else f"{model}/{version}/"
    for blob in client.list_blobs(bucket_name, prefix=full):
        target = dest / blob.name[len(full) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
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
        with emulator():
            url = new_bucket()
            store = open_store(url)
            publish(store, small, "small", 1, workers=16)
            publish(store, big, "big", 1, workers=4)
            ours = best_of(runs, lambda: puller_pull(url, "small", 1, work))
            base = best_of(runs, lambda: naive_gcs(url, "small", 1, work))
            records.append(record("pull_200x256KiB_gcs", small_bytes, ours, base, 2.0))
            ours = best_of(runs, lambda: puller_pull(url, "big", 1, work))
            base = best_of(runs, lambda: naive_gcs(url, "big", 1, work))
            records.append(record(f"pull_1x{big_size // MiB}MiB_gcs", big_bytes, ours, base, 1.0))
            # The same pulls as a bucket far away: every request pays 20 ms (the proxy), as
            # real GCS does and a local emulator does not. This is where parallel requests
            # and slices earn their keep; the figures above are CPU-bound on the emulator.
            emulator_host = os.environ["STORAGE_EMULATOR_HOST"]
            port = int(emulator_host.rsplit(":", 1)[1])
            proxy = FaultProxy(("127.0.0.1", port))
            proxy.latency_s = 0.02
            os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{proxy.port}"
            try:
                # Published through the proxy, so the objects' mediaLinks (which the naive
                # loop follows) point at it too.
                far = open_store(url)
                publish(far, small, "small-far", 1, workers=16)
                publish(far, big, "big-far", 1, workers=4)
                proxy.set_mode("latency")
                ours = best_of(runs, lambda: puller_pull(url, "small-far", 1, work, workers=16))
                base = best_of(1, lambda: naive_gcs(url, "small-far", 1, work))
                records.append(record("pull_200x256KiB_gcs_20ms", small_bytes, ours, base, 2.0))
                ours = best_of(runs, lambda: puller_pull(url, "big-far", 1, work, workers=16))
                base = best_of(1, lambda: naive_gcs(url, "big-far", 1, work))
                records.append(
                    record(f"pull_1x{big_size // MiB}MiB_gcs_20ms", big_bytes, ours, base, 1.0)
                )
            finally:
                os.environ["STORAGE_EMULATOR_HOST"] = emulator_host
                proxy.close()
        # (c) local backend vs cp -r, on a tree holding both shapes.
        bucket = work / "bucket"
        bucket.mkdir()
        lstore = open_store(str(bucket))
        publish(lstore, small, "mixed", 1, workers=8)
        shutil.copytree(big / "variables", bucket / "mixed" / "2" / "variables")
        shutil.copy(big / "saved_model.pb", bucket / "mixed" / "2" / "saved_model.pb")
        for rel in ("variables",):
            shutil.copytree(small / rel, bucket / "mixed" / "2" / "small", dirs_exist_ok=True)
        from modelfleet.store import adopt

        adopt(lstore, "mixed", 2)
        src_tree = bucket / "mixed" / "2"
        tree_bytes = sum(p.stat().st_size for p in src_tree.rglob("*") if p.is_file())
        ours_l, base_l = [], []
        for _ in range(runs + 3):  # interleaved so both see the same machine state
            base_l.append(cp_r(src_tree, work))
            ours_l.append(puller_pull(str(bucket), "mixed", 2, work))
        records.append(record("pull_local_vs_cp_r", tree_bytes, min(ours_l), min(base_l), 0.9))
    return records


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
