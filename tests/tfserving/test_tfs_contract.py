"""Wire compatibility with the official tensorflow-serving-api package, both ways.

Messages built with modelfleet's protos parse identically with the official ones and the
other way round (compared field by field through text format, and byte for byte after a
deterministic re-serialization); the models.config text modelfleet writes parses with the
official ModelServerConfig.
"""

from __future__ import annotations

import importlib.util

import pytest
from google.protobuf import text_format

from modelfleet.tfserving import ModelEntry, make_tensor, render_config
from modelfleet.tfserving.proto import error_codes_pb2, serving_pb2, tensor_pb2

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow_serving") is None,
        reason="tensorflow-serving-api is not installed (make tf)",
    ),
]


@pytest.fixture(scope="module")
def official():  # type: ignore[no-untyped-def]
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_management_pb2,
        model_pb2,
        predict_pb2,
    )
    from tensorflow_serving.config import model_server_config_pb2

    return {
        "ModelSpec": model_pb2.ModelSpec,
        "GetModelStatusRequest": get_model_status_pb2.GetModelStatusRequest,
        "GetModelStatusResponse": get_model_status_pb2.GetModelStatusResponse,
        "ReloadConfigRequest": model_management_pb2.ReloadConfigRequest,
        "ReloadConfigResponse": model_management_pb2.ReloadConfigResponse,
        "PredictRequest": predict_pb2.PredictRequest,
        "PredictResponse": predict_pb2.PredictResponse,
        "ModelServerConfig": model_server_config_pb2.ModelServerConfig,
        "GetModelMetadataRequest": get_model_metadata_pb2.GetModelMetadataRequest,
        "GetModelMetadataResponse": get_model_metadata_pb2.GetModelMetadataResponse,
        "SignatureDefMap": get_model_metadata_pb2.SignatureDefMap,
    }


def _ours() -> dict[str, object]:
    spec = serving_pb2.ModelSpec(name="half_plus_two", signature_name="serving_default")
    spec.version.value = 3
    status_req = serving_pb2.GetModelStatusRequest()
    status_req.model_spec.name = "m"
    status_req.model_spec.version_label = "stable"
    status_resp = serving_pb2.GetModelStatusResponse()
    row = status_resp.model_version_status.add(
        version=2, state=serving_pb2.ModelVersionStatus.AVAILABLE
    )
    row.status.error_code = error_codes_pb2.OK
    row = status_resp.model_version_status.add(version=3, state=serving_pb2.ModelVersionStatus.END)
    row.status.error_code = error_codes_pb2.DATA_LOSS
    row.status.error_message = "cannot parse saved_model.pb"
    entries = [
        ModelEntry.make("b_model", "/models/b_model", [1]),
        ModelEntry.make("a_model", "/models/a_model", [2, 3], {"stable": 2, "canary": 3}),
    ]
    reload_req = serving_pb2.ReloadConfigRequest()
    reload_req.config.CopyFrom(
        text_format.Parse(render_config(entries), serving_pb2.ModelServerConfig())
    )
    reload_resp = serving_pb2.ReloadConfigResponse()
    reload_resp.status.error_code = error_codes_pb2.FAILED_PRECONDITION
    reload_resp.status.error_message = "label"
    predict = serving_pb2.PredictRequest()
    predict.model_spec.CopyFrom(spec)
    predict.inputs["x"].CopyFrom(make_tensor([[1.0, 2.0], [3.0, 4.5]]))
    predict.inputs["ids"].CopyFrom(make_tensor([7, 8, 9], "int64"))
    predict.inputs["names"].CopyFrom(make_tensor(["a", "bé"], "string"))
    predict.output_filter.append("y")
    response = serving_pb2.PredictResponse()
    response.model_spec.CopyFrom(spec)
    response.outputs["y"].CopyFrom(make_tensor([3.0, 5.0], "float64"))
    response.outputs["ok"].CopyFrom(make_tensor([True, False], "bool"))
    response.outputs["n"].CopyFrom(make_tensor([1, -2], "int32"))
    meta_req = serving_pb2.GetModelMetadataRequest(model_spec=spec)
    meta_req.metadata_field.append("signature_def")
    signatures = serving_pb2.SignatureDefMap()
    sig = signatures.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x"].name = "serving_default_x:0"
    sig.inputs["x"].dtype = tensor_pb2.DT_FLOAT
    sig.inputs["x"].tensor_shape.dim.add(size=-1)
    sig.outputs["y"].coo_sparse.values_tensor_name = "y_values:0"
    meta_resp = serving_pb2.GetModelMetadataResponse()
    meta_resp.model_spec.name = "half_plus_two"
    meta_resp.model_spec.version.value = 3
    meta_resp.metadata["signature_def"].Pack(signatures)
    return {
        "GetModelMetadataRequest": meta_req,
        "GetModelMetadataResponse": meta_resp,
        "SignatureDefMap": signatures,
        "ModelSpec": spec,
        "GetModelStatusRequest": status_req,
        "GetModelStatusResponse": status_resp,
        "ReloadConfigRequest": reload_req,
        "ReloadConfigResponse": reload_resp,
        "PredictRequest": predict,
        "PredictResponse": response,
        "ModelServerConfig": reload_req.config,
    }


def test_ours_to_official_and_back(official) -> None:  # type: ignore[no-untyped-def]
    for name, message in _ours().items():
        data = message.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
        theirs = official[name].FromString(data)
        assert text_format.MessageToString(theirs) == text_format.MessageToString(message), name
        assert theirs.SerializeToString(deterministic=True) == data, name
        back = type(message).FromString(theirs.SerializeToString())
        assert back == message, name


def test_official_to_ours(official) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import tensorflow as tf

    req = official["PredictRequest"]()
    req.model_spec.name = "m"
    req.model_spec.version_label = "canary"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.5, 2.5]], dtype=np.float32)))
    ours = serving_pb2.PredictRequest.FromString(req.SerializeToString())
    assert ours.model_spec.version_label == "canary"
    assert ours.inputs["x"].dtype == tensor_pb2.DT_FLOAT
    from modelfleet.tfserving import tensor_to_list

    assert tensor_to_list(ours.inputs["x"]) == [[1.5, 2.5]]
    cfg = official["ModelServerConfig"]()
    model = cfg.model_config_list.config.add(
        name="x", base_path="/m/x", model_platform="tensorflow"
    )
    model.model_version_policy.latest.num_versions = 2
    model.version_labels["stable"] = 4
    ours_cfg = serving_pb2.ModelServerConfig.FromString(cfg.SerializeToString())
    assert text_format.MessageToString(ours_cfg) == text_format.MessageToString(cfg)


def test_rendered_models_config_parses_with_official(official) -> None:  # type: ignore[no-untyped-def]
    entries = [
        ModelEntry.make("z", "/srv/models/z", [10, 2]),
        ModelEntry.make("half_plus_two", '/srv/odd "path"/hpt', [1, 2], {"stable": 1}),
    ]
    text = render_config(entries)
    theirs = text_format.Parse(text, official["ModelServerConfig"]())
    names = [c.name for c in theirs.model_config_list.config]
    assert names == ["half_plus_two", "z"]
    hpt = theirs.model_config_list.config[0]
    assert hpt.base_path == '/srv/odd "path"/hpt'
    assert hpt.model_platform == "tensorflow"
    assert list(hpt.model_version_policy.specific.versions) == [1, 2]
    assert dict(hpt.version_labels) == {"stable": 1}
    assert list(theirs.model_config_list.config[1].model_version_policy.specific.versions) == [
        2,
        10,
    ]
    # Empty config still selects model_config_list (so TF Serving unloads everything).
    empty = text_format.Parse(render_config([]), official["ModelServerConfig"]())
    assert empty.WhichOneof("config") == "model_config_list"


def test_enums_match(official) -> None:  # type: ignore[no-untyped-def]
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import get_model_status_pb2, status_pb2

    code_enum = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    assert {v.name: v.number for v in code_enum.values} == {
        v.name: v.number for v in error_codes_pb2.DESCRIPTOR.enum_types_by_name["Code"].values
    }
    theirs = get_model_status_pb2.ModelVersionStatus.State
    ours = serving_pb2.ModelVersionStatus.State
    assert dict(theirs.items()) == dict(ours.items())
    for value in tensor_pb2.DataType.DESCRIPTOR.values:
        assert types_pb2.DataType.Value(value.name) == value.number
