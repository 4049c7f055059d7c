"""``modelfleet devserver run`` as a real process with real TensorFlow and real SavedModels."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from modelfleet.tfserving import (
    ModelEntry,
    TFServingClient,
    TFServingError,
    render_config,
    tensor_to_list,
)
from tests.support.helpers import free_port, wait_until
from tests.support.savedmodels import DevServerProcess, install_version, requires_tensorflow

pytestmark = [pytest.mark.tensorflow, requires_tensorflow]


@pytest.fixture(scope="module")
def served(
    library: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DevServerProcess, Path]]:
    root = tmp_path_factory.mktemp("devserver")
    models = root / "models"
    install_version(library, "linear_2x1", models, "lin", 1)
    install_version(library, "linear_3x2", models, "lin", 2)
    install_version(library, "broken_garbage", models, "lin", 3)
    config = root / "models.config"
    config.write_text(render_config([ModelEntry.make("lin", str(models / "lin"), [1])]))
    server = DevServerProcess(
        free_port(),
        config,
        mode="tensorflow",
        rest_port=free_port(),
        log_path=root / "dev.log",
        extra=[
            "--max_num_load_retries=1",
            "--load_retry_interval_micros=200000",
            "--file_system_poll_wait_seconds=0.1",
        ],
    ).start()
    try:
        yield server, models
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_predict_status_reload_with_real_tensorflow(served: tuple[DevServerProcess, Path]) -> None:
    server, models = served
    client = TFServingClient(server.target, timeout=30)
    try:
        assert [(s.version, s.state) for s in client.status("lin")] == [(1, "AVAILABLE")]
        out = client.predict("lin", {"x": [1.0, 2.0, 3.0]})
        assert tensor_to_list(out.outputs["y"]) == [3.0, 5.0, 7.0]
        assert out.model_spec.version.value == 1
        # v2 and a broken v3: the reload returns at once (existing model); v3 is retried
        # once, reported LOADING meanwhile, then ends with an error.
        client.reload([ModelEntry.make("lin", str(models / "lin"), [1, 2, 3], {"stable": 1})])
        wait_until(
            lambda: (
                {s.version: s.state for s in client.status("lin")}
                == {1: "AVAILABLE", 2: "AVAILABLE", 3: "END"}
            ),
            timeout=60,
            what="v2 AVAILABLE, v3 failed",
        )
        rows = {s.version: s for s in client.status("lin")}
        assert rows[2].state == "AVAILABLE"
        assert rows[3].failed and rows[3].error_code != "OK"
        assert tensor_to_list(client.predict("lin", {"x": [1.0]}, label="stable").outputs["y"]) == [
            3.0
        ]
        assert tensor_to_list(client.predict("lin", {"x": [1.0]}).outputs["y"]) == [5.0]
        assert tensor_to_list(client.predict("lin", {"x": [1.0]}, version=2).outputs["y"]) == [5.0]
        with pytest.raises(TFServingError) as info:
            client.predict("lin", {"x": [1.0]}, version=3)
        assert info.value.code == "NOT_FOUND"
        with pytest.raises(TFServingError) as info:
            client.predict("lin", {"x": [1.0]}, signature="nope")
        assert info.value.code == "FAILED_PRECONDITION"
        with pytest.raises(TFServingError) as info:
            client.predict("lin", {"wrong": [1.0]})
        assert info.value.code == "INVALID_ARGUMENT"
        with pytest.raises(TFServingError) as info:
            client.status("unknown")
        assert info.value.code == "NOT_FOUND"
        with pytest.raises(TFServingError) as info:
            client.reload(
                [
                    ModelEntry.make("lin", str(models / "lin"), [1], {"canary": 1, "stable": 1}),
                    ModelEntry.make("lin2", str(models / "lin"), [3]),
                ]
            )
        assert info.value.code == "UNKNOWN"
        # REST subset
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/lin/versions/1:predict"
        req = urllib.request.Request(url, data=json.dumps({"instances": [1.0, 2.0]}).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp) == {"predictions": [3.0, 5.0]}
        with pytest.raises(urllib.error.HTTPError) as http:
            urllib.request.urlopen(
                f"http://127.0.0.1:{server.rest_port}/v1/models/nope", timeout=10
            )
        assert http.value.code == 404
    finally:
        client.close()


def test_official_client_talks_to_devserver(served: tuple[DevServerProcess, Path]) -> None:
    """The official tensorflow-serving-api stubs (what production callers use) work too."""
    pytest.importorskip("tensorflow_serving")
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    server, _ = served
    with grpc.insecure_channel(server.target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "lin"
        request.model_spec.version.value = 1
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([4.0], dtype=np.float32)))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30
        )
        assert tf.make_ndarray(response.outputs["y"]).tolist() == [9.0]
        status_req = get_model_status_pb2.GetModelStatusRequest()
        status_req.model_spec.name = "lin"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            status_req, timeout=10
        )
        assert any(s.version == 1 and s.state == 30 for s in status.model_version_status)


def test_model_metadata_matches_the_savedmodel(served: tuple[DevServerProcess, Path]) -> None:
    """GetModelMetadata through the official stubs: TF Serving's signature_def answer."""
    pytest.importorskip("tensorflow_serving")
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    server, models = served
    with grpc.insecure_channel(server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = "lin"
        request.model_spec.version.value = 1
        request.metadata_field.append("signature_def")
        response = stub.GetModelMetadata(request, timeout=10)
        assert (response.model_spec.name, response.model_spec.version.value) == ("lin", 1)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        assert response.metadata["signature_def"].Unpack(signatures)
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((models / "lin" / "1" / "saved_model.pb").read_bytes())
        (graph,) = [g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags]
        assert dict(signatures.signature_def) == dict(graph.signature_def)
        served_default = signatures.signature_def["serving_default"]
        assert served_default.method_name == "tensorflow/serving/predict"
        assert served_default.inputs["x"].dtype == 1  # DT_FLOAT
        request.metadata_field[0] = "nope"
        with pytest.raises(grpc.RpcError) as info:
            stub.GetModelMetadata(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "Metadata field nope is not supported"
        request.metadata_field[0] = "signature_def"
        request.model_spec.name = "unknown"
        with pytest.raises(grpc.RpcError) as info:
            stub.GetModelMetadata(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_config_file_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "models.config"
    bad.write_text("model_config_list { config { nme: 1 } }")
    exe = Path(sys.executable).parent / "modelfleet"
    proc = subprocess.run(
        [
            str(exe),
            "devserver",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--mode",
            "no-tensorflow",
            "--model_config_file",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "does not parse" in proc.stderr
