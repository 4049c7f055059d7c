"""The real ``modelfleet puller run`` (gunicorn) against the GCS emulator, and kill -9."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from modelfleet.store import MANIFEST_NAME, open_store, publish
from tests.support.helpers import free_port, wait_until
from tests.support.storeutil import tree_bytes, write_model

# Real processes (gunicorn, dev servers, browsers): kept out of `make test-fast`.
pytestmark = pytest.mark.slow

MODELFLEET = str(Path(sys.executable).parent / "modelfleet")


class Puller:
    def __init__(self, env: dict[str, str], port: int, token: str) -> None:
        self.env, self.port, self.token = env, port, token
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MODELFLEET, "puller", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: kill -9 reaches arbiter and worker
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        # The worker may outlive the arbiter by a moment; wait for the whole group.
        wait_until(lambda: not _group_alive(self.proc.pid), timeout=10, what="group gone")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                return self.proc.wait(timeout=10)
        return self.proc.returncode

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=5, **kw)

    def api(self, method: str, path: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.url + "/api/v1" + path, headers=headers, timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def puller(
    tmp_path: Path, gcs_bucket: str, cluster_token_file: Path, cluster_token: str
) -> Iterator[Puller]:
    port = free_port()
    (tmp_path / "local").mkdir()
    env = {
        **os.environ,
        "HOSTNAME": "127.0.0.1",
        "LOCAL_MODEL_DIRECTORY": str(tmp_path / "local"),
        "REMOTE_MODEL_DIRECTORY": gcs_bucket + "/fleet",
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
        "MODELFLEET_BIND": f"127.0.0.1:{port}",
        "MODELFLEET_CLUSTER_TOKEN_FILE": str(cluster_token_file),
        "MODELFLEET_POLL_INTERVAL": "30",  # only POST /sync or a start triggers a pass
        "MODELFLEET_DISK_RESERVE_MB": "0",
        "MODELFLEET_DOWNLOAD_WORKERS": "4",
    }
    p = Puller(env, port, cluster_token)
    yield p
    if p.proc is not None:
        p.stop()


def test_real_process_pulls_on_sync(puller: Puller, tmp_path: Path) -> None:
    puller.start()
    wait_until(lambda: puller.get("/healthz").status_code == 200, timeout=30, what="healthz")
    wait_until(lambda: puller.get("/readyz").status_code == 200, timeout=30, what="readyz")
    store = open_store(puller.env["REMOTE_MODEL_DIRECTORY"])
    src = write_model(tmp_path / "src")
    publish(store, src, "half_plus_two")
    assert puller.api("POST", "/sync").status_code == 202
    target = Path(puller.env["LOCAL_MODEL_DIRECTORY"]) / "half_plus_two" / "1"
    wait_until(lambda: (target / MANIFEST_NAME).is_file(), timeout=30, what="version installed")
    got = tree_bytes(target)
    got.pop(MANIFEST_NAME)
    assert got == tree_bytes(src)
    status = puller.api("GET", "/status").json()
    assert status["local"] == {"half_plus_two": [1]}
    assert status["last_sync"]["ok"] is True
    metrics = puller.get("/metrics").text
    assert 'modelfleet_puller_remote_requests_total{op="stat"}' in metrics
    assert "modelfleet_puller_pulls_total 1.0" in metrics
    assert puller.api("GET", "/nope").status_code == 404
    health = subprocess.run(
        [
            MODELFLEET,
            "healthcheck",
            "remote_model_puller",
            "--state-dir",
            puller.env["MODELFLEET_STATE_DIR"],
        ],
        capture_output=True,
        text=True,
    )
    assert health.returncode == 0, health.stdout
    assert puller.stop() == 0


def _check_no_partial(local: Path, sources: dict[str, dict[str, bytes]]) -> int:
    """Every version directory visible under LOCAL is complete and exact; returns how many."""
    count = 0
    for model, files in sources.items():
        mdir = local / model
        if not mdir.exists():
            continue
        for vdir in mdir.iterdir():
            got = tree_bytes(vdir)
            assert got.pop(MANIFEST_NAME, None) is not None, f"{vdir} has no manifest"
            assert got == files, f"{vdir} is partial or wrong"
            count += 1
    return count


def test_kill9_at_random_points_never_leaves_partial_version(
    puller: Puller, tmp_path: Path
) -> None:
    store = open_store(puller.env["REMOTE_MODEL_DIRECTORY"])
    sources = {}
    # Enough data that a pull lasts a while even on a fast disk: the kills must land mid-pull.
    for i in range(8):
        files = {f"variables/shard-{j:03d}": os.urandom(128 * 1024) for j in range(40)}
        files["saved_model.pb"] = os.urandom(4096)
        src = write_model(tmp_path / f"src{i}", files)
        publish(store, src, f"model{i}", workers=16)
        sources[f"model{i}"] = tree_bytes(src)
    local = Path(puller.env["LOCAL_MODEL_DIRECTORY"])
    staging = local / ".modelfleet" / "staging"
    rng = random.Random(1234)
    mid_pull_kills = 0
    for _ in range(8):
        if _check_no_partial(local, sources) == len(sources):
            break
        puller.start()
        # Kill at a random point once the pull is under way (or everything is done).
        wait_until(
            lambda: (
                (staging.is_dir() and any(staging.iterdir()))
                or _check_no_partial(local, sources) == len(sources)
            ),
            timeout=30,
            interval=0.001,
            what="pull started",
        )
        deadline = rng.uniform(0.0, 0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):  # the random kill point
            puller.proc.wait(timeout=deadline)  # type: ignore[union-attr]
        if staging.is_dir() and any(staging.iterdir()):
            mid_pull_kills += 1
        puller.kill9()
        _check_no_partial(local, sources)
    assert mid_pull_kills >= 2, "the kills did not land during pulls"
    # A clean restart cleans staging and completes every version.
    puller.start()
    wait_until(
        lambda: _check_no_partial(local, sources) == len(sources),
        timeout=60,
        what="all versions after restart",
    )
    wait_until(lambda: not any(staging.iterdir()), timeout=10, what="staging empty")
