"""Small real SavedModels for tests, benchmarks and the demo, built with tensorflow-cpu.

- :func:`build_linear` — ``y = slope * x + intercept`` (default ``2x + 1``), signature
  ``serving_default``: input ``x`` (float32, shape [None]), output ``y``;
- :func:`build_broken` — a version directory that fails to load: ``garbage`` (a
  saved_model.pb that is not a SavedModel: fails with TensorFlow; the no-TF dev server loads
  any non-empty file) or ``empty`` (a zero-byte saved_model.pb: fails in both modes);
- :func:`model_library` — a cached directory holding one of each, built once per cache dir
  in a *subprocess*, so the pytest process itself never imports TensorFlow (600 MB) and
  every test copies versions from it with :func:`install_version`.

Run as a script to build the library: ``python -m tests.support.savedmodels OUTDIR``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = [
    "LIBRARY_MODELS",
    "build_broken",
    "build_linear",
    "install_version",
    "model_library",
    "requires_tensorflow",
    "tensorflow_available",
]

# name in the library -> (slope, intercept) for linear models
LIBRARY_MODELS = {"linear_2x1": (2.0, 1.0), "linear_3x2": (3.0, 2.0), "linear_5x0": (5.0, 0.0)}


def tensorflow_available() -> bool:
    """True if tensorflow can be imported (checked without importing it here)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


requires_tensorflow = pytest.mark.skipif(
    not tensorflow_available(), reason="tensorflow-cpu is not installed (make tf)"
)


def build_linear(path: Path, slope: float = 2.0, intercept: float = 1.0) -> Path:
    """Write a SavedModel computing ``slope * x + intercept`` to ``path`` (in-process TF)."""
    from modelfleet.localfleet.samplemodel import build_linear_model

    return build_linear_model(path, slope, intercept)


def build_broken(path: Path, kind: str = "garbage") -> Path:
    """A version directory that does not load (see module docstring for ``kind``)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "variables").mkdir(exist_ok=True)
    data = b"" if kind == "empty" else b"\x08\x96\x01 this is not a SavedModel \xff\xfe" * 8
    (path / "saved_model.pb").write_bytes(data)
    return path


def _build_library(out: Path) -> None:
    for name, (slope, intercept) in LIBRARY_MODELS.items():
        build_linear(out / name, slope, intercept)
    build_broken(out / "broken_garbage", "garbage")
    build_broken(out / "broken_empty", "empty")
    (out / ".complete").write_text("ok\n")


def model_library(cache_dir: Path) -> Path:
    """Build (once) and return a directory with every library model; see module docstring."""
    out = Path(cache_dir) / "savedmodel-library"
    if (out / ".complete").exists():
        return out
    if not tensorflow_available():
        pytest.skip("tensorflow-cpu is not installed (make tf): cannot build SavedModels")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, __file__, str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building SavedModels failed:\n{proc.stderr[-3000:]}")
    return out


def install_version(library: Path, model: str, dest_root: Path, name: str, version: int) -> Path:
    """Install library model ``model`` as ``dest_root/name/version``, as the puller does."""
    from tests.support.storeutil import install_local

    return install_local(dest_root, name, version, library / model)


class DevServerProcess:
    """``modelfleet devserver run`` as a real subprocess on 127.0.0.1 (tests, bench, demo)."""

    def __init__(
        self,
        port: int,
        config_file: Path | None = None,
        *,
        mode: str = "auto",
        rest_port: int = 0,
        log_path: Path | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.port = port
        self.config_file = config_file
        self.mode = mode
        self.rest_port = rest_port
        self.log_path = log_path
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DevServerProcess:
        import socket
        import time

        exe = Path(sys.executable).parent / "modelfleet"
        cmd = [
            str(exe),
            "devserver",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mode",
            self.mode,
            *self.extra,
        ]
        if self.config_file is not None:
            cmd += ["--model_config_file", str(self.config_file)]
        if self.rest_port:
            cmd += ["--rest_api_port", str(self.rest_port)]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"devserver exited with {self.proc.returncode}: {cmd}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"devserver did not listen on {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


if __name__ == "__main__":
    _build_library(Path(sys.argv[1]))
