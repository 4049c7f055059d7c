"""Regenerate the committed ``*_pb2.py`` / ``*_pb2_grpc.py`` / ``*_pb2.pyi`` from the .proto files.

Run with ``python -m modelfleet.tfserving.proto.build`` (``make protos``); ``--check`` only
reports whether the committed code is stale (exit 1), which the test suite also asserts.

The generated modules register their descriptors in a private descriptor pool
(:mod:`._pool`) instead of protobuf's default pool. Our messages carry TF Serving's own
full names (``tensorflow.serving.ModelSpec``, ``tensorflow.TensorProto``) so the wire and
the gRPC paths match; in the default pool they would collide with TensorFlow's and the
official ``tensorflow-serving-api`` modules the moment both are imported in one process
(the dev server with real TensorFlow, the contract tests). A private pool keeps them apart
while the bytes stay identical.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

__all__ = ["PROTOS", "PROTO_DIR", "generate", "main", "stale_files"]

PROTO_DIR = Path(__file__).resolve().parent
PACKAGE_ROOT = PROTO_DIR.parent.parent.parent  # the directory holding ``modelfleet/``
PROTOS = (
    "error_codes.proto",
    "tensor.proto",
    "meta_graph.proto",
    "serving.proto",
    "monitoring.proto",
)
_IMPORT_POOL = "from modelfleet.tfserving.proto import _pool as _modelfleet_pool\n"


def _postprocess(name: str, text: str) -> str:
    """Point pb2 modules at the private pool; keep everything else as protoc wrote it."""
    if name.endswith("_pb2.py"):
        if "_descriptor_pool.Default()" not in text:
            raise RuntimeError(f"{name}: unexpected protoc output (no default pool use)")
        text = text.replace("_descriptor_pool.Default()", "_modelfleet_pool.POOL")
        text = text.replace(
            "# @@protoc_insertion_point(imports)\n",
            "# @@protoc_insertion_point(imports)\n" + _IMPORT_POOL,
            1,
        )
    if name.endswith(".pyi"):
        # Stubs are for mypy; ruff leaves generated text alone (the .py files are excluded
        # in pyproject, these need the in-file markers).
        text = "# ruff: noqa\n# fmt: off\n" + text
    return text


def generate(out_dir: Path) -> dict[str, bytes]:
    """Compile the protos into ``out_dir``; return {file name: content} of what was written."""
    import grpc_tools
    from grpc_tools import protoc  # build-time dependency only (grpcio-tools)

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PACKAGE_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *(str(PROTO_DIR / p) for p in PROTOS),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed: " + " ".join(args))
        produced = Path(tmp) / "modelfleet" / "tfserving" / "proto"
        result: dict[str, bytes] = {}
        for path in sorted(produced.iterdir()):
            if not re.search(r"_pb2(_grpc)?\.pyi?$", path.name):
                continue
            if path.name.endswith("_grpc.py") and "class " not in path.read_text():
                continue  # protos without services: protoc writes an empty module
            data = _postprocess(path.name, path.read_text()).encode()
            result[path.name] = data
            (out_dir / path.name).write_bytes(data)
    return result


def stale_files() -> list[str]:
    """Names of generated files that differ from (or are missing in) the package."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    stale = []
    for name, data in fresh.items():
        current = PROTO_DIR / name
        if not current.exists() or current.read_bytes() != data:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if generated code is stale")
    opts = parser.parse_args(argv)
    if opts.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: {PROTO_DIR / name} (run `make protos`)", file=sys.stderr)
        return 1 if stale else 0
    written = generate(PROTO_DIR)
    for name in written:
        print(f"wrote {PROTO_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
