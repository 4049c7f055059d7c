"""The puller's reconcile pass against a real directory bucket and the GCS emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelfleet.node.admin import create_node_app
from modelfleet.puller.api import blueprint
from modelfleet.store import MANIFEST_NAME, StoreError, open_store, publish
from modelfleet.store.local import LocalStore
from tests.support.helpers import free_port, wait_until
from tests.support.storeutil import set_desired, tree_bytes, write_model


@pytest.fixture(params=["local", "gcs"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gcs":
        return request.getfixturevalue("gcs_bucket") + "/models"
    root = tmp_path / "bucket"
    root.mkdir()
    return str(root)


def requests_by_op(daemon: Any) -> dict[str, float]:
    out = {}
    for metric in daemon.registry.collect():
        if metric.name == "modelfleet_puller_remote_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["op"]] = sample.value
    return out


def set_versions(store: Any, model: str, versions: list[int], **extra: Any) -> None:
    set_desired(store, model, versions=tuple(versions), **extra)


def local_desired(daemon: Any) -> dict[str, Any]:
    return json.loads((daemon.settings.local_dir / ".modelfleet" / "desired.json").read_text())


def test_publish_pull_exact_bytes(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "half_plus_two")
    daemon = make_daemon(remote)
    daemon.settle()
    installed = daemon.settings.local_dir / "half_plus_two" / "1"
    got = tree_bytes(installed)
    manifest = got.pop(MANIFEST_NAME)
    assert got == tree_bytes(src)
    assert json.loads(manifest)["version"] == 1
    doc = local_desired(daemon)
    assert doc["models"] == {"half_plus_two": {"versions": [1], "labels": {}, "keep": []}}
    assert doc["source"] == store.url and doc["source_generation"] > 0
    assert daemon.status()["local"] == {"half_plus_two": [1]}
    assert not any((daemon.settings.local_dir / ".modelfleet" / "staging").iterdir())


def test_desired_change_pulls_new_version_and_keeps_retention(
    remote: str, tmp_path: Path, make_daemon: Any
) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    for _ in range(2):
        publish(store, src, "m")
    daemon = make_daemon(remote)
    daemon.settle()
    assert daemon.installed == {"m": [2]}  # newest published, nothing older is fetched
    publish(store, src, "m")
    daemon.settle()
    assert daemon.installed == {"m": [2, 3]}
    assert local_desired(daemon)["models"]["m"] == {"versions": [3], "labels": {}, "keep": [2]}
    set_versions(store, "m", [1], labels={"stable": 1})
    daemon.settle()
    assert daemon.installed == {"m": [1, 2, 3]}  # the puller never deletes
    assert local_desired(daemon)["models"]["m"] == {
        "versions": [1],
        "labels": {"stable": 1},
        "keep": [3],
    }


def test_idle_poll_is_one_metadata_read(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    for name in ("a", "b", "c"):
        publish(store, src, name)
    daemon = make_daemon(remote)
    daemon.settle()
    before = requests_by_op(daemon)
    for _ in range(5):
        daemon.settle()
    after = requests_by_op(daemon)
    delta = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
    assert delta == {"stat": 5}


def test_retired_model_leaves_local_desired(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "a")
    publish(store, src, "b")
    daemon = make_daemon(remote)
    daemon.settle()
    set_versions(store, "a", [], retired=True)
    daemon.settle()
    assert list(local_desired(daemon)["models"]) == ["b"]
    assert daemon.installed == {"a": [1], "b": [1]}


def test_corrupt_object_not_installed(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "m")
    data = (src / "saved_model.pb").read_bytes()
    store.write("m/1/saved_model.pb", bytes([data[0] ^ 0xFF]) + data[1:])
    daemon = make_daemon(remote)
    daemon.settle()
    assert not (daemon.settings.local_dir / "m" / "1").exists()
    errors = daemon.status()["errors"]
    assert [(e["model"], e["version"], e["reason"]) for e in errors] == [("m", 1, "checksum")]
    assert local_desired(daemon)["models"]["m"]["versions"] == [1]  # desired, not present
    assert not any((daemon.settings.local_dir / ".modelfleet" / "staging").iterdir())
    # Fixed upstream: the next forced sync installs it.
    store.write("m/1/saved_model.pb", data)
    daemon.settle(force=True)
    assert tree_bytes(daemon.settings.local_dir / "m" / "1")["saved_model.pb"] == data
    assert daemon.status()["errors"] == []


def test_invalid_manifest_and_missing_file(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "m")
    publish(store, src, "n")
    store.write("m/1/_modelfleet.json", b'{"schema": 1, "model": "m", "version": 1, "files": [')
    store.delete("n/1/variables/variables.index")
    daemon = make_daemon(remote)
    daemon.settle()
    reasons = {(e["model"], e["reason"]) for e in daemon.status()["errors"]}
    assert reasons == {("m", "manifest"), ("n", "missing")}
    assert daemon.installed == {}


def test_bad_names_in_desired_are_skipped(remote: str, tmp_path: Path, make_daemon: Any) -> None:
    store = open_store(remote)
    publish(store, write_model(tmp_path / "src"), "good")
    doc = json.loads(store.read("_modelfleet/desired.json")[0])
    doc["models"]["../evil"] = {"versions": [1]}
    doc["models"]["bad-version"] = {"versions": ["01"]}
    store.write("_modelfleet/desired.json", json.dumps(doc).encode())
    daemon = make_daemon(remote)
    daemon.settle()
    assert daemon.installed == {"good": [1]}
    assert list(local_desired(daemon)["models"]) == ["good"]
    assert not (tmp_path / "evil").exists()


def test_fallback_without_desired_skips_bad_names(
    remote: str, tmp_path: Path, make_daemon: Any
) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "m")
    publish(store, src, "m")
    store.delete("_modelfleet/desired.json")
    store.write("bad name/1/_modelfleet.json", b"{}")
    store.write("m/007/_modelfleet.json", b"{}")
    daemon = make_daemon(remote)
    daemon.settle()
    assert daemon.installed == {"m": [2]}
    problems = [e["error"] for e in daemon.status()["errors"]]
    assert any("bad name/1" in p for p in problems) and any("m/007" in p for p in problems)
    assert local_desired(daemon)["source_generation"] == 0


def test_disk_reserve_refuses_and_keeps_local(
    remote: str, tmp_path: Path, make_daemon: Any
) -> None:
    store = open_store(remote)
    src = write_model(tmp_path / "src")
    publish(store, src, "m")
    make_daemon(remote).settle()  # v1 installed (a pass only starts its pull)
    publish(store, src, "m")
    daemon = make_daemon(remote, MODELFLEET_DISK_RESERVE_MB=10**9)
    daemon.settle()
    assert daemon.installed == {"m": [1]}
    (error,) = daemon.status()["errors"]
    assert error["reason"] == "disk" and "not enough disk" in error["error"]
    assert daemon.status()["disk"]["reserve_bytes"] == 10**9 << 20


def test_recover_cleans_staging_and_ignores_foreign_dirs(
    tmp_path: Path, make_daemon: Any, puller_env: dict[str, str]
) -> None:
    local = Path(puller_env["LOCAL_MODEL_DIRECTORY"])
    leftover = local / ".modelfleet" / "staging" / "m.1.abc"
    leftover.mkdir(parents=True)
    (leftover / "saved_model.pb").write_bytes(b"half")
    (local / "m" / "2").mkdir(parents=True)  # no manifest: not the puller's
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    daemon = make_daemon(str(bucket))
    assert not leftover.exists()
    assert daemon.installed == {}


def test_admin_api(tmp_path: Path, make_daemon: Any, cluster_token: str) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    daemon = make_daemon(str(bucket))
    client = create_node_app(daemon, cluster_token, blueprint(daemon)).test_client()
    auth = {"Authorization": f"Bearer {cluster_token}"}
    assert client.get("/api/v1/status").status_code == 401
    assert client.post("/api/v1/sync", headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = client.post("/api/v1/sync", headers=auth)
    assert resp.status_code == 202 and resp.get_json() == {"accepted": True}
    body = client.get("/api/v1/status", headers=auth).get_json()
    assert body["service"] == "remote_model_puller" and body["hostname"] == "node1"
    for key in ("zone", "remote", "last_sync", "local", "desired", "pulls", "errors", "disk"):
        assert key in body
    closed = create_node_app(daemon, None, blueprint(daemon)).test_client()
    assert closed.get("/api/v1/status").status_code == 503
    assert b"modelfleet_puller_pulls_total" in client.get("/metrics").data


def test_master_absent_does_not_block_sync(
    tmp_path: Path, make_daemon: Any, cluster_token_file: Path
) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    store = open_store(str(bucket))
    publish(store, write_model(tmp_path / "src"), "m")
    daemon = make_daemon(
        str(bucket),
        MODELFLEET_MASTER_URL=f"http://127.0.0.1:{free_port()}",
        MODELFLEET_CLUSTER_TOKEN_FILE=str(cluster_token_file),
        MODELFLEET_HEARTBEAT_INTERVAL=0.2,
    )
    daemon.start()
    wait_until(lambda: daemon.installed == {"m": [1]}, timeout=20, what="pull with master down")
    wait_until(lambda: daemon.registrar.failures >= 2, timeout=20, what="registration retries")
    status = daemon.status()
    assert status["master"]["registered"] is False
    assert "unreachable" in status["master"]["error"]
    # ready once the pass that installed v1 has ended (the version lands before the pass does)
    wait_until(lambda: daemon.ready() == (True, "ok"), timeout=20, what="ready, master down")


class _FlakyStore(LocalStore):
    """A directory bucket that can fail its downloads, or every call (bucket unreachable)."""

    fail_fetch = False
    down = False

    def stat(self, key: str) -> Any:
        if self.down:
            raise StoreError("bucket unreachable")
        return super().stat(key)

    def fetch(self, items: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if self.fail_fetch or self.down:
            raise StoreError("connection reset")
        super().fetch(items, **kwargs)


def test_failed_pulls_back_off_but_retry_at_once_when_the_bucket_is_back(
    tmp_path: Path, make_daemon: Any
) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    store = _FlakyStore(str(bucket))
    publish(store, write_model(tmp_path / "src"), "m")
    daemon = make_daemon(str(bucket), store=store, MODELFLEET_POLL_INTERVAL=30)
    store.fail_fetch = True
    daemon.settle()
    (error,) = daemon.status()["errors"]
    assert (error["reason"], error["attempts"]) == ("remote", 1) and error["retry_at"]
    store.fail_fetch = False
    daemon.settle()  # backing off (60 s): not retried by an ordinary pass
    assert daemon.installed == {} and daemon.status()["errors"][0]["attempts"] == 1
    store.down = True
    daemon.sync_once()
    assert daemon.last_sync.ok is False
    store.down = False
    daemon.settle()  # the bucket answers again: what failed on it is retried at once
    assert daemon.installed == {"m": [1]} and daemon.status()["errors"] == []
