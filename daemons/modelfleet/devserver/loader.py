"""How the dev server turns a version directory into something that answers Predict.

:class:`TensorFlowLoader` loads a real SavedModel with TensorFlow (imported lazily, on first
load). :class:`FileLoader` is the documented no-TensorFlow mode for hosts without TF (the
molecule containers, the model-based fleet test): a version "loads" when ``saved_model.pb``
is present and not empty, and Predict answers FAILED_PRECONDITION. Both raise
:class:`LoadError` with a TF Serving error code name when a version cannot be loaded.

Both answer GetModelMetadata from the SignatureDefs of the ``serve`` meta graph in
saved_model.pb, read with the project's own subset of the SavedModel messages (what TF
Serving answers from its loaded bundle); in the no-TF mode a file that is not a SavedModel
has no signatures.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import message, text_format

from ..tfserving.proto import meta_graph_pb2, serving_pb2, tensor_pb2

__all__ = [
    "FileLoader",
    "LoadError",
    "Loader",
    "PredictError",
    "Servable",
    "TensorFlowLoader",
    "make_loader",
    "read_signature_defs",
]

SERVE_TAG = "serve"  # the tag set TF Serving loads


class LoadError(Exception):
    """A version failed to load; ``code`` is a tensorflow.error.Code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PredictError(Exception):
    """Predict failed; ``code`` is a gRPC status code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Signatures = dict[str, meta_graph_pb2.SignatureDef]


class Servable(Protocol):
    def predict(
        self, signature: str, request: serving_pb2.PredictRequest
    ) -> dict[str, tensor_pb2.TensorProto]: ...

    def signature_defs(self) -> Signatures: ...


class Loader(Protocol):
    mode: str

    def load(self, path: Path) -> Servable: ...


def _pb_file(path: Path) -> Path:
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        if (path / name).is_file():
            return path / name
    raise LoadError(
        "NOT_FOUND",
        f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}",
    )


def read_signature_defs(pb: Path) -> Signatures:
    """SignatureDefs of the ``serve`` meta graph; ValueError if ``pb`` is not a SavedModel."""
    saved = meta_graph_pb2.SavedModel()
    data = pb.read_bytes()
    try:
        if pb.suffix == ".pbtxt":
            text_format.Parse(data.decode("utf-8"), saved, allow_unknown_field=True)
        else:
            saved.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
        raise ValueError(f"{pb} is not a SavedModel: {exc}") from None
    for graph in saved.meta_graphs:
        if SERVE_TAG in graph.meta_info_def.tags:
            return {name: sig for name, sig in graph.signature_def.items()}
    raise ValueError(f"{pb} has no meta graph tagged {SERVE_TAG!r}")


class _NoTFServable:
    def __init__(self, signatures: Signatures) -> None:
        self._signatures = signatures

    def signature_defs(self) -> Signatures:
        return self._signatures

    def predict(
        self, signature: str, request: serving_pb2.PredictRequest
    ) -> dict[str, tensor_pb2.TensorProto]:
        raise PredictError(
            "FAILED_PRECONDITION",
            "modelfleet dev server runs without TensorFlow: versions load and report status, "
            "Predict is not available",
        )


class FileLoader:
    """No-TF mode: presence of a non-empty saved_model.pb(txt) is what "loads"."""

    mode = "no-tensorflow"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def load(self, path: Path) -> Servable:
        if self.delay:
            time.sleep(self.delay)
        pb = _pb_file(path)
        if pb.stat().st_size == 0:
            raise LoadError("DATA_LOSS", f"{pb} is empty")
        try:
            signatures = read_signature_defs(pb)
        except ValueError:
            signatures = {}  # no-TF mode: any non-empty file loads, without signatures
        return _NoTFServable(signatures)


class _TFServable:
    def __init__(self, tf: Any, loaded: Any, tf_tensor_pb2: Any, signatures: Signatures) -> None:
        self._tf = tf
        self._loaded = loaded
        self._tensor_pb2 = tf_tensor_pb2
        self._signatures = signatures

    def signature_defs(self) -> Signatures:
        return self._signatures

    def predict(
        self, signature: str, request: serving_pb2.PredictRequest
    ) -> dict[str, tensor_pb2.TensorProto]:
        tf = self._tf
        fn = self._loaded.signatures.get(signature)
        if fn is None:
            raise PredictError(
                "FAILED_PRECONDITION", f'Serving signature key "{signature}" not found.'
            )
        specs = fn.structured_input_signature[1]
        missing = sorted(set(specs) - set(request.inputs))
        extra = sorted(set(request.inputs) - set(specs))
        if missing or extra:
            raise PredictError(
                "INVALID_ARGUMENT",
                f"input keys do not match signature {signature}: missing {missing}, "
                f"unexpected {extra}; expected {sorted(specs)}",
            )
        args = {}
        for name, spec in specs.items():
            proto = self._tensor_pb2.TensorProto.FromString(
                request.inputs[name].SerializeToString()
            )
            try:
                array = tf.make_ndarray(proto)
                value = tf.convert_to_tensor(array)
            except Exception as exc:
                raise PredictError("INVALID_ARGUMENT", f"input {name}: {exc}") from None
            if value.dtype != spec.dtype:
                raise PredictError(
                    "INVALID_ARGUMENT",
                    f"Expects arg {name} to be {spec.dtype.name} but "
                    f"{value.dtype.name} is provided",
                )
            if not spec.shape.is_compatible_with(value.shape):
                raise PredictError(
                    "INVALID_ARGUMENT",
                    f"input {name} has shape {value.shape}, signature wants {spec.shape}",
                )
            args[name] = value
        try:
            outputs = fn(**args)
        except Exception as exc:
            raise PredictError("INVALID_ARGUMENT", f"{type(exc).__name__}: {exc}") from None
        wanted = list(request.output_filter) or sorted(outputs)
        unknown = [n for n in wanted if n not in outputs]
        if unknown:
            raise PredictError("INVALID_ARGUMENT", f"output tensor alias not found: {unknown}")
        result = {}
        for name in wanted:
            tf_proto = tf.make_tensor_proto(outputs[name].numpy())
            result[name] = tensor_pb2.TensorProto.FromString(tf_proto.SerializeToString())
        return result


class TensorFlowLoader:
    """Real SavedModels through ``tf.saved_model.load`` (TF imported on first use)."""

    mode = "tensorflow"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._tf: Any = None
        self._lock = threading.Lock()

    def _import(self) -> Any:
        with self._lock:
            if self._tf is None:
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
                import tensorflow as tf
                from tensorflow.core.framework import tensor_pb2 as tf_tensor_pb2

                self._tf = (tf, tf_tensor_pb2)
            return self._tf

    def warm_up(self) -> None:
        """Import TensorFlow now, so the first reload does not pay for it."""
        self._import()

    def load(self, path: Path) -> Servable:
        tf, tf_tensor_pb2 = self._import()
        if self.delay:
            time.sleep(self.delay)
        pb = _pb_file(path)
        if pb.stat().st_size == 0:
            raise LoadError("DATA_LOSS", f"{pb} is empty")
        try:
            loaded = tf.saved_model.load(str(path), tags=["serve"])
        except tf.errors.OpError as exc:
            from ..tfserving.proto import error_codes_pb2

            raise LoadError(error_codes_pb2.Code.Name(exc.error_code), exc.message) from None
        except Exception as exc:
            raise LoadError("DATA_LOSS", f"cannot load SavedModel {path}: {exc}") from None
        try:
            signatures = read_signature_defs(pb)
        except ValueError as exc:
            raise LoadError("DATA_LOSS", str(exc)) from None
        return _TFServable(tf, loaded, tf_tensor_pb2, signatures)


def make_loader(mode: str = "auto", delay: float = 0.0) -> Loader:
    """``auto``: real TensorFlow when importable, else the no-TF mode."""
    if mode == "auto":
        import importlib.util

        mode = "tensorflow" if importlib.util.find_spec("tensorflow") else "no-tensorflow"
    if mode == "tensorflow":
        return TensorFlowLoader(delay)
    if mode == "no-tensorflow":
        return FileLoader(delay)
    raise ValueError(f"unknown loader mode {mode!r}")
