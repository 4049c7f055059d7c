"""A subset of TF Serving's REST API (``--rest_api_port``) for curl-level checks.

``GET /v1/models/<name>[/versions/<v>]`` (status), ``POST /v1/models/<name>[/versions/<v>|
/labels/<l>]:predict`` with ``{"instances": [...]}`` (row format) or ``{"inputs": {...}}``
(columnar format), and ``GET /v1/models`` (a dev-server extra: every model's states).

With a metrics path (``--monitoring_config_file``), ``GET <path>`` answers the Prometheus page
of :mod:`.metrics`; as in TF Serving, every REST request that names a model is counted in
``:tensorflow:serving:request_count`` with its status code name.
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..tfserving.proto import serving_pb2
from ..tfserving.tensors import make_tensor, tensor_to_list
from .manager import ModelManager, ServingError
from .metrics import ServingMetrics

__all__ = ["make_rest_server"]

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<predict>:predict)?$"
)
_HTTP = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 400,
    "UNAVAILABLE": 503,
}


def _dtype_of(values: Any) -> str:
    flat = values
    while isinstance(flat, list) and flat:
        flat = flat[0]
    if isinstance(flat, bool):
        return "bool"
    if isinstance(flat, int):
        return "float32"  # TF Serving would infer int; our demo models take floats
    if isinstance(flat, str):
        return "string"
    return "float32"


_CODE_OF_HTTP = {
    200: "OK",
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    503: "UNAVAILABLE",
    500: "INTERNAL",
}


def make_rest_server(
    host: str,
    port: int,
    manager: ModelManager,
    *,
    metrics: ServingMetrics | None = None,
    metrics_path: str | None = None,
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: dict[str, Any], code: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            match = _PATH.match(self.path.split("?", 1)[0])
            if metrics is not None and match:
                status_name = code or _CODE_OF_HTTP.get(status, "UNKNOWN")
                metrics.record(
                    match["name"],
                    status_name,
                    api="predict" if match["predict"] else "GetModelStatus",
                    entrypoint="REST",
                    seconds=time.perf_counter() - self._started,
                )

        def _error(self, exc: ServingError) -> None:
            self._send(_HTTP.get(exc.code, 500), {"error": exc.message}, exc.code)

        def _metrics_page(self) -> None:
            assert metrics is not None
            data = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._started = time.perf_counter()
            if metrics_path is not None and metrics is not None and self.path == metrics_path:
                self._metrics_page()
                return
            if self.path == "/v1/models":
                self._send(200, {"models": manager.summary()})
                return
            match = _PATH.match(self.path)
            if not match or match["predict"] or match["label"]:
                self._send(404, {"error": f"no such endpoint: GET {self.path}"})
                return
            try:
                version = int(match["version"]) if match["version"] else None
                rows = manager.status(match["name"], version)
            except ServingError as exc:
                self._error(exc)
                return
            self._send(
                200,
                {
                    "model_version_status": [
                        {
                            "version": str(r.version),
                            "state": r.state,
                            "status": {
                                "error_code": r.error_code,
                                "error_message": r.error_message,
                            },
                        }
                        for r in rows
                    ]
                },
            )

        def do_POST(self) -> None:
            self._started = time.perf_counter()
            match = _PATH.match(self.path)
            if not match or not match["predict"]:
                self._send(404, {"error": f"no such endpoint: POST {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                request = serving_pb2.PredictRequest()
                request.model_spec.name = match["name"]
                request.model_spec.signature_name = body.get("signature_name", "serving_default")
                if match["version"]:
                    request.model_spec.version.value = int(match["version"])
                elif match["label"]:
                    request.model_spec.version_label = match["label"]
                row_format = "instances" in body
                inputs = body.get("instances") if row_format else body.get("inputs")
                if inputs is None:
                    raise ValueError('body needs "instances" or "inputs"')
                if not isinstance(inputs, dict):
                    inputs = {"x": inputs}  # single-input models: the demo's "x"
                for key, values in inputs.items():
                    request.inputs[key].CopyFrom(make_tensor(values, _dtype_of(values)))
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": f"bad request: {exc}"})
                return
            try:
                _version, outputs = manager.predict(request)
            except ServingError as exc:
                self._error(exc)
                return
            decoded = {k: tensor_to_list(v) for k, v in outputs.items()}  # type: ignore[arg-type]
            if row_format:
                preds: Any = next(iter(decoded.values())) if len(decoded) == 1 else decoded
                self._send(200, {"predictions": preds})
            else:
                self._send(200, {"outputs": decoded})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
