"""A small TF Serving gRPC client: status, reload, metadata and Predict, all with deadlines.

It speaks TF Serving's wire protocol with modelfleet's own generated messages
(:mod:`.proto`), so it works against a real ``tensorflow_model_server`` and against the dev
server alike, and never imports TensorFlow.

The target may be one server (``host:8500``) or the whole service (``dns:///name:8500``, see
:mod:`.channel`): the channel balances calls over every address with gRPC's ``round_robin``
and retries a Predict that failed with ``UNAVAILABLE`` on another server.

Every call has a deadline (``timeout``) and, when the channel is not connected yet, a
separate short connect timeout: a TF Serving that is down or black-holed costs a caller
``connect_timeout`` (600 ms, the RUNBOOK's figure), not the whole request deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from .channel import ChannelPolicy, channel_options, grpc_target
from .config import ModelEntry, to_proto
from .errors import TFServingError
from .proto import error_codes_pb2, meta_graph_pb2, serving_pb2, serving_pb2_grpc, tensor_pb2
from .tensors import make_tensor

__all__ = ["STATE_NAMES", "TFServingClient", "VersionStatus"]

STATE_NAMES = {
    serving_pb2.ModelVersionStatus.UNKNOWN: "UNKNOWN",
    serving_pb2.ModelVersionStatus.START: "START",
    serving_pb2.ModelVersionStatus.LOADING: "LOADING",
    serving_pb2.ModelVersionStatus.AVAILABLE: "AVAILABLE",
    serving_pb2.ModelVersionStatus.UNLOADING: "UNLOADING",
    serving_pb2.ModelVersionStatus.END: "END",
}

# How long close() waits for grpcio's connectivity thread to notice it has no subscriber.
_POLLER_STOP_S = 0.5

R = TypeVar("R")


@dataclass(frozen=True)
class VersionStatus:
    """One row of GetModelStatus: a version, its state name and its status (code name)."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""

    @property
    def failed(self) -> bool:
        """TF Serving's way of saying "this version could not be loaded": END with an error."""
        return self.state == "END" and self.error_code != "OK"


class TFServingClient:
    """Thread-safe client of a TF Serving gRPC target: ``host:port``, ``dns:///name:port``,
    ``ipv4:a:p,b:p`` (anything :func:`.channel.grpc_target` accepts)."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 0.6,
        max_message_bytes: int = 64 * 1024 * 1024,
        policy: ChannelPolicy | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.policy = policy or ChannelPolicy(
            connect_timeout=connect_timeout, max_message_bytes=max_message_bytes
        )
        self.connect_timeout = self.policy.connect_timeout
        self._channel = grpc.insecure_channel(
            grpc_target(target), options=channel_options(self.policy)
        )
        self._ready = False
        self._lock = threading.Lock()
        self._channel.subscribe(self._on_state, try_to_connect=False)
        self._models = serving_pb2_grpc.ModelServiceStub(self._channel)
        self._predictions = serving_pb2_grpc.PredictionServiceStub(self._channel)

    # -- plumbing -------------------------------------------------------------------------

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        self._ready = state == grpc.ChannelConnectivity.READY

    def _connect(self, method: str) -> None:
        if self._ready:
            return
        ready = grpc.channel_ready_future(self._channel)
        try:
            ready.result(timeout=self.connect_timeout)
        except grpc.FutureTimeoutError:
            ready.cancel()  # unsubscribes; left alone it would watch the channel forever
            raise TFServingError(
                "UNAVAILABLE",
                f"cannot connect to {self.target} within {self.connect_timeout * 1000:.0f} ms",
                method=method,
            ) from None
        self._ready = True

    def _call(self, method: str, fn: Callable[..., R], request: Any, timeout: float | None) -> R:
        self._connect(method)
        try:
            return fn(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise TFServingError(name, details or "", method=method) from None

    def close(self) -> None:
        # grpcio watches connectivity from a helper thread (ours via subscribe(), and
        # channel_ready_future's) that re-polls every 0.2 s; closing the channel while it
        # is inside a poll makes that thread die with "Cannot monitor channel state:
        # Channel closed!" (a traceback in production logs, a teardown error in CI). grpcio
        # has no public join, so unsubscribe and wait, bounded, for its polling flag to drop.
        self._channel.unsubscribe(self._on_state)
        state = getattr(self._channel, "_connectivity_state", None)
        deadline = time.monotonic() + _POLLER_STOP_S
        while state is not None and getattr(state, "polling", False):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        self._channel.close()

    def __enter__(self) -> TFServingClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- ModelService -----------------------------------------------------------------------

    def status(
        self, model: str, version: int | None = None, *, timeout: float | None = None
    ) -> list[VersionStatus]:
        """GetModelStatus: every version TF Serving knows of ``model`` (or just ``version``).

        Raises :class:`TFServingError` with ``code == "NOT_FOUND"`` for a model (or version)
        TF Serving has never seen since it started.
        """
        request = serving_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        response = self._call("GetModelStatus", self._models.GetModelStatus, request, timeout)
        rows = [
            VersionStatus(
                version=int(s.version),
                state=STATE_NAMES.get(s.state, "UNKNOWN"),
                error_code=error_codes_pb2.Code.Name(s.status.error_code),
                error_message=s.status.error_message,
            )
            for s in response.model_version_status
        ]
        return sorted(rows, key=lambda r: r.version)

    def reload(
        self,
        config: Iterable[ModelEntry] | serving_pb2.ModelServerConfig,
        *,
        timeout: float | None = None,
    ) -> None:
        """HandleReloadConfigRequest: replace TF Serving's whole model config.

        TF Serving answers when the new models are loaded (or failed); a failed reload raises
        :class:`TFServingError` with TF Serving's own code and message.
        """
        request = serving_pb2.ReloadConfigRequest()
        if isinstance(config, serving_pb2.ModelServerConfig):
            request.config.CopyFrom(config)
        else:
            request.config.CopyFrom(to_proto(config))
        response = self._call(
            "HandleReloadConfigRequest", self._models.HandleReloadConfigRequest, request, timeout
        )
        if response.status.error_code != error_codes_pb2.OK:
            raise TFServingError(
                error_codes_pb2.Code.Name(response.status.error_code),
                response.status.error_message,
                method="HandleReloadConfigRequest",
            )

    # -- PredictionService ------------------------------------------------------------------

    def metadata(
        self,
        model: str,
        *,
        version: int | None = None,
        label: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, meta_graph_pb2.SignatureDef]]:
        """GetModelMetadata: (the version that answered, its SignatureDefs by name).

        ``signature_def`` is the only metadata field TF Serving supports; NOT_FOUND for a
        model, version or label that is not AVAILABLE.
        """
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        request = serving_pb2.GetModelMetadataRequest()
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        elif label is not None:
            request.model_spec.version_label = label
        request.metadata_field.append("signature_def")
        response = self._call(
            "GetModelMetadata", self._predictions.GetModelMetadata, request, timeout
        )
        signatures = serving_pb2.SignatureDefMap()
        if not response.metadata["signature_def"].Unpack(signatures):
            raise TFServingError(
                "INTERNAL",
                "metadata signature_def is not a SignatureDefMap",
                method="GetModelMetadata",
            )
        return int(response.model_spec.version.value), dict(signatures.signature_def)

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        label: str | None = None,
        signature: str = "serving_default",
        output_filter: Sequence[str] = (),
        dtype: str = "float32",
        timeout: float | None = None,
    ) -> serving_pb2.PredictResponse:
        """Predict through ``signature``; plain values in ``inputs`` become ``dtype`` tensors.

        Use :func:`modelfleet.tfserving.tensor_to_list` on ``response.outputs[name]``.
        ``version`` and ``label`` are exclusive; neither means the latest available version.
        """
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        request = serving_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        elif label is not None:
            request.model_spec.version_label = label
        for name, value in inputs.items():
            tensor = (
                value if isinstance(value, tensor_pb2.TensorProto) else make_tensor(value, dtype)
            )
            request.inputs[name].CopyFrom(tensor)
        request.output_filter.extend(output_filter)
        return self._call("Predict", self._predictions.Predict, request, timeout)
