"""Fixtures shared by all test packages.

- ``gcs_emulator``: a real ``gcp-storage-emulator`` process on loopback (session-wide), with
  ``STORAGE_EMULATOR_HOST`` set for the google-cloud-storage client;
- ``gcs_bucket``: a fresh bucket on it per test, as ``gs://<bucket>`` URL;
- ``cluster_token`` / ``cluster_token_file``: a 0600 token file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.helpers import free_port, make_token_file, port_open, wait_until

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Emulator:
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self):  # type: ignore[no-untyped-def]
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="test", credentials=AnonymousCredentials())

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name


def _emulator_binary() -> str:
    found = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    return found


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    port = free_port()
    proc = subprocess.Popen(
        [
            _emulator_binary(),
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
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, what="GCS emulator port")
        yield Emulator("127.0.0.1", port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture
def gcs_bucket(gcs_emulator: Emulator) -> str:
    return f"gs://{gcs_emulator.create_bucket()}"


@pytest.fixture
def cluster_token_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.token"
    make_token_file(path)
    return path


@pytest.fixture
def cluster_token(cluster_token_file: Path) -> str:
    return cluster_token_file.read_text().strip()
