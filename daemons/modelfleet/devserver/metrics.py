"""The dev server's Prometheus metrics, under TF Serving's own names and format.

Drains decide when a host may stop from its TF Serving request rate, read from the metrics
page ``--monitoring_config_file`` enables on the REST port. The dev server must therefore
export what ``tensorflow_model_server`` exports, byte for byte where it matters:

- ``/tensorflow/serving/request_count`` (labels ``model_name``, ``status``: the status code
  name, ``OK`` for a success), counted for Predict (gRPC) and every REST request naming a
  model — TF Serving's ``RecordModelRequestCount``; ModelService calls (GetModelStatus,
  config reloads: the config manager, the healthcheck) and GetModelMetadata do not count;
- ``/tensorflow/serving/request_latency`` (labels ``model_name``, ``API``, ``entrypoint``;
  microseconds) for successful calls.

TF Serving's exporter turns every character of a name outside ``[a-zA-Z0-9_]`` into ``:``
(``:tensorflow:serving:request_count``), prints a ``# TYPE`` line and no ``# HELP``, and
counters carry no ``_total`` suffix. :func:`render` follows that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import text_format

from ..tfserving.proto import monitoring_pb2

__all__ = [
    "DEFAULT_METRICS_PATH",
    "REQUEST_COUNT",
    "REQUEST_LATENCY",
    "CountingInterceptor",
    "ServingMetrics",
    "parse_monitoring_config",
]

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
# TF Serving's request_latency buckets: scale 10 µs, power 1.8, 33 buckets (~20 minutes).
_LATENCY_BOUNDS = [10 * 1.8**i for i in range(32)]
# gRPC methods whose calls TF Serving counts (PredictionService minus GetModelMetadata).
_COUNTED = {"Predict", "Classify", "Regress", "MultiInference"}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class ServingMetrics:
    """Request counts and latencies of one dev server; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str, str], list[float]] = {}

    def record(self, model: str, status: str, *, api: str, entrypoint: str, seconds: float) -> None:
        """Count one request; a success also lands in the latency histogram."""
        with self._lock:
            key = (model, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if status == "OK":
                hist = self._latency.setdefault((model, api, entrypoint), [0.0] * 35)
                micros = seconds * 1e6
                index = next(
                    (i for i, b in enumerate(_LATENCY_BOUNDS) if micros <= b), len(_LATENCY_BOUNDS)
                )
                hist[index] += 1
                hist[33] += micros  # sum
                hist[34] += 1  # count

    def count(self, model: str | None = None, status: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (m, s), n in self._counts.items()
                if (model is None or m == model) and (status is None or s == status)
            )

    def render(self) -> str:
        """The Prometheus page, as TF Serving's exporter writes it."""
        lines: list[str] = []
        with self._lock:
            if self._counts:
                lines.append(f"# TYPE {REQUEST_COUNT} counter")
                for (model, status), n in sorted(self._counts.items()):
                    lines.append(
                        f'{REQUEST_COUNT}{{model_name="{_label(model)}",status="{_label(status)}"}}'
                        f" {n}"
                    )
            if self._latency:
                lines.append(f"# TYPE {REQUEST_LATENCY} histogram")
                for (model, api, entry), hist in sorted(self._latency.items()):
                    labels = (
                        f'model_name="{_label(model)}",API="{_label(api)}",'
                        f'entrypoint="{_label(entry)}"'
                    )
                    cumulative = 0
                    for i, bound in enumerate([*_LATENCY_BOUNDS, None]):
                        cumulative += int(hist[i])
                        le = "+Inf" if bound is None else f"{bound:g}"
                        lines.append(f'{REQUEST_LATENCY}_bucket{{{labels},le="{le}"}} {cumulative}')
                    lines.append(f"{REQUEST_LATENCY}_sum{{{labels}}} {hist[33]:g}")
                    lines.append(f"{REQUEST_LATENCY}_count{{{labels}}} {int(hist[34])}")
        return "\n".join(lines) + "\n"


class CountingInterceptor(grpc.ServerInterceptor):
    """Counts the PredictionService calls TF Serving counts, by model and status code."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method  # "/tensorflow.serving.PredictionService/Predict"
        service, _, name = method.rpartition("/")
        if (
            handler is None
            or handler.unary_unary is None
            or not service.endswith("PredictionService")
            or name not in _COUNTED
        ):
            return handler
        behavior = handler.unary_unary
        metrics = self.metrics

        def counted(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            model = request.model_spec.name
            try:
                response = behavior(request, context)
            except BaseException:
                code = context.code() if hasattr(context, "code") else None
                status = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                metrics.record(model, status, api=name, entrypoint="GRPC", seconds=0.0)
                raise
            code = context.code() if hasattr(context, "code") else None
            status = code.name if isinstance(code, grpc.StatusCode) else "OK"
            metrics.record(
                model, status, api=name, entrypoint="GRPC", seconds=time.perf_counter() - started
            )
            return response

        return grpc.unary_unary_rpc_method_handler(
            counted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


def parse_monitoring_config(text: str) -> tuple[bool, str]:
    """``--monitoring_config_file`` (text MonitoringConfig) → (prometheus enabled, path).

    Parsed with protobuf's text format against TF Serving's own message, as
    ``tensorflow_model_server`` does: anything it would refuse raises ValueError.
    """
    config = monitoring_pb2.MonitoringConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ValueError(str(exc)) from None
    prometheus = config.prometheus_config
    path = prometheus.path or DEFAULT_METRICS_PATH
    if not path.startswith("/"):
        raise ValueError(f"prometheus_config.path must start with /: {path!r}")
    return prometheus.enable, path
