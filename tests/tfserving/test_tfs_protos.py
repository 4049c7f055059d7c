"""The committed generated code matches the .proto files (run `make protos` if this fails)."""

from __future__ import annotations

import subprocess
import sys

from modelfleet.tfserving.proto import serving_pb2


def test_generated_code_is_not_stale() -> None:
    # A subprocess: protoc (grpc_tools) and TensorFlow's protobuf runtime must not share a
    # process (other tests in this session import TensorFlow).
    proc = subprocess.run(
        [sys.executable, "-m", "modelfleet.tfserving.proto.build", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"generated protobuf code is stale: run `make protos`\n{proc.stderr}"
    )


def test_gRPC_method_paths_are_tf_servings() -> None:
    services = serving_pb2.DESCRIPTOR.services_by_name
    paths = sorted(f"/{svc.full_name}/{m.name}" for svc in services.values() for m in svc.methods)
    assert paths == [
        "/tensorflow.serving.ModelService/GetModelStatus",
        "/tensorflow.serving.ModelService/HandleReloadConfigRequest",
        "/tensorflow.serving.PredictionService/GetModelMetadata",
        "/tensorflow.serving.PredictionService/Predict",
    ]


def test_private_pool_keeps_default_pool_clean() -> None:
    from google.protobuf import descriptor_pool

    try:
        descriptor_pool.Default().FindMessageTypeByName("tensorflow.serving.ModelSpec")
    except KeyError:
        return
    # Only acceptable if the official package was imported by another test in this process.
    import sys

    assert "tensorflow_serving.apis.model_pb2" in sys.modules
