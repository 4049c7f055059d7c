"""gRPC servicers of the dev server: TF Serving's ModelService and PredictionService."""

from __future__ import annotations

import logging
from typing import Any

import grpc
from google.protobuf import text_format

from ..logsetup import kv
from ..tfserving.config import ConfigError, entries_from_proto
from ..tfserving.proto import error_codes_pb2, serving_pb2, serving_pb2_grpc
from .manager import ModelManager, ServingError

__all__ = ["ModelService", "PredictionService", "add_services"]

log = logging.getLogger(__name__)

_STATES = {
    "START": serving_pb2.ModelVersionStatus.START,
    "LOADING": serving_pb2.ModelVersionStatus.LOADING,
    "AVAILABLE": serving_pb2.ModelVersionStatus.AVAILABLE,
    "UNLOADING": serving_pb2.ModelVersionStatus.UNLOADING,
    "END": serving_pb2.ModelVersionStatus.END,
}


def _abort(context: grpc.ServicerContext, exc: ServingError) -> Any:
    context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN), exc.message)


class ModelService(serving_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def GetModelStatus(
        self, request: serving_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> serving_pb2.GetModelStatusResponse:
        if not request.HasField("model_spec"):
            return _abort(context, ServingError("INVALID_ARGUMENT", "Missing ModelSpec"))
        spec = request.model_spec
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        try:
            rows = self.manager.status(spec.name, version)
        except ServingError as exc:
            return _abort(context, exc)
        response = serving_pb2.GetModelStatusResponse()
        for row in rows:
            item = response.model_version_status.add(version=row.version, state=_STATES[row.state])
            item.status.error_code = error_codes_pb2.Code.Value(row.error_code)
            item.status.error_message = row.error_message
        return response

    def HandleReloadConfigRequest(
        self, request: serving_pb2.ReloadConfigRequest, context: grpc.ServicerContext
    ) -> serving_pb2.ReloadConfigResponse:
        response = serving_pb2.ReloadConfigResponse()
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise ServingError(
                    "INVALID_ARGUMENT",
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported",
                )
            try:
                entries = entries_from_proto(request.config)
            except ConfigError as exc:
                raise ServingError("INVALID_ARGUMENT", str(exc)) from None
            log.info(
                "reloading config",
                extra=kv(
                    models=len(entries),
                    config=text_format.MessageToString(request.config, as_one_line=True)[:2000],
                ),
            )
            remaining = context.time_remaining()
            self.manager.reload(entries, timeout=remaining if remaining is not None else None)
        except ServingError as exc:
            log.error("ReloadConfig failed", extra=kv(code=exc.code, error=exc.message))
            response.status.error_code = error_codes_pb2.Code.Value(exc.code)
            response.status.error_message = exc.message
            context.set_code(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN))
            context.set_details(exc.message)
        return response


class PredictionService(serving_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def Predict(
        self, request: serving_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> serving_pb2.PredictResponse:
        try:
            version, outputs = self.manager.predict(request)
        except ServingError as exc:
            return _abort(context, exc)
        response = serving_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
        for name, tensor in outputs.items():
            response.outputs[name].CopyFrom(tensor)  # type: ignore[arg-type]
        return response

    def GetModelMetadata(
        self, request: serving_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> serving_pb2.GetModelMetadataResponse:
        try:
            return self.manager.metadata(request)
        except ServingError as exc:
            return _abort(context, exc)


def add_services(server: grpc.Server, manager: ModelManager) -> None:
    serving_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    serving_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(manager), server)
