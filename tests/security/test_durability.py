"""State that survives faults: a full disk, a partial write, a corrupt state file, kill -9.

The master's state dir is put on a real tmpfs of a few hundred KiB (``mount -t tmpfs``, as
root; unmounted in a finalizer) and filled up. Figures, counted here: acknowledged changes
lost after disk full / corrupt file: 0 (kill -9: tests/security/test_kill9.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from modelfleet.contracts.cluster import AuditEntry
from modelfleet.desired import read_remote
from modelfleet.master import MasterSettings, create_app
from modelfleet.master.audit import AuditLog
from modelfleet.master.statefile import StateFileError
from modelfleet.store.local import LocalStore
from tests.master.conftest import MODEL, SIM_PORT, post_registration

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


class Tmpfs:
    """A small tmpfs; :meth:`fill` leaves ``free`` bytes, :meth:`drain` frees it again."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        path.mkdir(parents=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
            check=True,
        )
        self.filler = path / ".filler"

    def fill(self, free: int = 0) -> None:
        """Fill the file system until at most ``free`` bytes are left."""
        with open(self.filler, "ab") as fh:
            while True:
                st = os.statvfs(self.path)
                left = st.f_bavail * st.f_frsize
                if left <= free:
                    break
                chunk = min(left - free, 1 << 16)
                try:
                    fh.write(b"\0" * chunk)
                    fh.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break

    def drain(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    fs = Tmpfs(tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}", 512)
    try:
        yield fs
    finally:
        fs.unmount()


@pytest.fixture
def on_tmpfs(settings: MasterSettings, tmpfs: Tmpfs) -> Iterator[tuple[Flask, MasterSettings]]:
    s = replace(settings, state_dir=tmpfs.path)
    app = create_app({"SETTINGS": s, "TESTING": True})
    yield app, s
    with contextlib.suppress(OSError):
        app.extensions["modelfleet"].registry.close()


def body(hostname: str, service: str = "config_manager") -> dict:
    return {
        "hostname": hostname,
        "service": service,
        "port": SIM_PORT,
        "zone": "z1",
        "version": "1",
    }


def test_disk_full_refuses_changes_and_loses_nothing_acknowledged(
    on_tmpfs: tuple[Flask, MasterSettings], tmpfs: Tmpfs, auth: dict, tokens: dict, bucket: Path
) -> None:
    app, s = on_tmpfs
    client = app.test_client()
    key = tokens["node-key"]
    acknowledged: list[str] = []

    # acknowledged before the disk fills
    assert post_registration(client, key, body("10.0.0.1")).status_code == 200
    acknowledged.append("node 10.0.0.1")
    r = client.post(
        "/api/v1/maintenance",
        json={"zone": "z1", "enabled": True, "reason": "a"},
        headers=auth["admin"],
    )
    assert r.status_code == 200
    acknowledged.append("maintenance z1")
    before_bucket = read_remote(LocalStore(bucket))

    tmpfs.fill(free=0)
    # tmpfs hands out whole pages: the audit log's last page still has room. Refusals (audited
    # too) use it up, as they would on a busy master; the short-write guard cuts the last.
    audit = app.extensions["modelfleet"].audit
    small = AuditEntry(
        at="t", who="x", role=None, action="x", method="GET", path="/", status=401, result="error"
    )
    with pytest.raises(OSError):
        for _ in range(100):
            audit.append(small)
    refused = {
        "promote": client.post(
            f"/api/v1/models/{MODEL}/promote", json={"version": 3}, headers=auth["admin"]
        ),
        "maintenance": client.post(
            "/api/v1/maintenance", json={"zone": "z2", "enabled": True}, headers=auth["admin"]
        ),
        "register": post_registration(client, key, body("10.0.0.2")),
        "forget": client.delete("/api/v1/nodes/10.0.0.1", headers=auth["admin"]),
    }
    for what, resp in refused.items():
        assert resp.status_code == 507, (what, resp.status_code, resp.json)
        assert "nothing changed" in resp.json["error"], (what, resp.json)
    # nothing applied: not in the bucket, not in memory, not on disk
    assert read_remote(LocalStore(bucket)).generation == before_bucket.generation
    maint = client.get("/api/v1/maintenance", headers=auth["readonly"]).json
    assert set(maint["zones"]) == {"z1"}
    nodes = client.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"]
    assert [n["hostname"] for n in nodes] == ["10.0.0.1"]
    # reads still work on a full disk
    assert client.get("/api/v1/cluster/status", headers=auth["readonly"]).status_code == 200

    tmpfs.drain()
    r = client.post(f"/api/v1/models/{MODEL}/promote", json={"version": 3}, headers=auth["admin"])
    assert r.status_code == 200
    acknowledged.append("promote 3")
    assert post_registration(client, key, body("10.0.0.2")).status_code == 200
    acknowledged.append("node 10.0.0.2")

    # a restart (no graceful flush) finds every acknowledged change: FIGURE lost = 0
    again = create_app({"SETTINGS": s, "TESTING": True}).test_client()
    nodes = {
        n["hostname"] for n in again.get("/api/v1/nodes", headers=auth["readonly"]).json["nodes"]
    }
    maint = again.get("/api/v1/maintenance", headers=auth["readonly"]).json
    state = read_remote(LocalStore(bucket)).state
    assert state is not None
    found = {
        "node 10.0.0.1": "10.0.0.1" in nodes,
        "node 10.0.0.2": "10.0.0.2" in nodes,
        "maintenance z1": "z1" in maint["zones"],
        "promote 3": state.models[MODEL].versions == (3,),
    }
    lost = [c for c in acknowledged if not found[c]]
    assert lost == []
    # every change has its intent and outcome in the audit log; refusals are not in it as
    # changes (the disk was full), and no line is broken
    lines = (s.state_dir / "audit.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    done = [
        (e["action"], e["result"]) for e in entries if e["action"] in ("promote", "maintenance")
    ]
    assert ("promote", "ok") in done and ("maintenance", "ok") in done


def test_partial_audit_write_is_cut_back_not_glued(tmpfs: Tmpfs) -> None:
    log = AuditLog(tmpfs.path)
    entry = AuditEntry(
        at="2026-01-01T00:00:00Z",
        who="admin",
        role="admin",
        action="promote",
        method="POST",
        path="/api/v1/models/m/promote",
        status=200,
        result="ok",
        error="e" * 250,
    )
    log.append(entry)
    size = (tmpfs.path / "audit.jsonl").stat().st_size
    tmpfs.fill(free=0)
    # tmpfs hands out whole pages: the tail page of audit.jsonl still has room, so the write
    # is cut part way (a short write) — or refused whole; either way it must not stay
    for _ in range(40):
        try:
            log.append(replace(entry, action="rollback"))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
    else:
        pytest.fail("the disk never filled")
    tmpfs.drain()
    log.append(replace(entry, action="pin"))
    lines = (tmpfs.path / "audit.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # every line whole: nothing glued
    assert parsed[0]["action"] == "promote" and parsed[-1]["action"] == "pin"
    assert (tmpfs.path / "audit.jsonl").stat().st_size >= size


def test_a_partial_last_line_from_a_crash_is_cut_at_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"action": "promote", "wh')
    log = AuditLog(tmp_path)
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    log.append(
        AuditEntry(
            at="t",
            who="admin",
            role="admin",
            action="pin",
            method="POST",
            path="/p",
            status=200,
            result="ok",
        )
    )
    assert [
        json.loads(line)["action"] if "action" in line else None
        for line in path.read_text().splitlines()
    ][-1] == "pin"


@pytest.mark.parametrize("name", ["registry.json", "maintenance.json"])
@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[]", b'{"schema": 1, "nodes": [{"hostname": "../x"}]}', b"\x00" * 64],
)
def test_a_corrupt_state_file_stops_the_master_in_one_line(
    settings: MasterSettings, name: str, content: bytes, tokens: dict
) -> None:
    path = settings.state_dir / name
    path.write_bytes(content)
    with pytest.raises(StateFileError) as info:
        create_app({"SETTINGS": settings})
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "silent reset" in message
    assert path.read_bytes() == content  # never overwritten
    # the production start path: `modelfleet master run` says it in one line, exit 2,
    # before gunicorn starts
    env = {
        **os.environ,
        "MODELFLEET_STATE_DIR": str(settings.state_dir),
        "REMOTE_MODEL_DIRECTORY": settings.remote,
        "MODELFLEET_ADMIN_TOKEN_FILE": str(settings.state_dir.parent / "admin.token"),
        "MODELFLEET_READONLY_TOKEN_FILE": str(settings.state_dir.parent / "readonly.token"),
        "MODELFLEET_NODE_KEY_FILE": str(settings.state_dir.parent / "node-key.token"),
    }
    exe = str(Path(sys.executable).parent / "modelfleet")
    run = subprocess.run(
        [exe, "master", "run", "--check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0], run.stderr
    assert path.read_bytes() == content
