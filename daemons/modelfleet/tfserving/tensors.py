"""TensorProto <-> plain Python values, without numpy or TensorFlow.

The node daemons and the load generator build Predict requests and read responses with
these; callers that have numpy may pass ``numpy.asarray(nested)`` themselves. Only the dtypes
a serving client realistically sends are supported; anything else raises ``ValueError``
naming the dtype.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from .proto import tensor_pb2

__all__ = ["make_tensor", "tensor_shape", "tensor_to_list"]

# dtype name -> (DataType, repeated field, struct format of tensor_content)
_DTYPES: dict[str, tuple[int, str, str]] = {
    "float32": (tensor_pb2.DT_FLOAT, "float_val", "f"),
    "float64": (tensor_pb2.DT_DOUBLE, "double_val", "d"),
    "int32": (tensor_pb2.DT_INT32, "int_val", "i"),
    "int64": (tensor_pb2.DT_INT64, "int64_val", "q"),
    "bool": (tensor_pb2.DT_BOOL, "bool_val", "?"),
    "string": (tensor_pb2.DT_STRING, "string_val", ""),
}
_BY_ENUM = {enum: (name, field, fmt) for name, (enum, field, fmt) in _DTYPES.items()}


def _flatten(values: Any) -> tuple[list[Any], list[int]]:
    """Flatten nested sequences; return (flat values, shape). Ragged input is refused."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return [values], []
    if not values:
        return [], [0]
    parts = [_flatten(v) for v in values]
    shape = parts[0][1]
    if any(p[1] != shape for p in parts):
        raise ValueError("ragged nested sequence: every row must have the same shape")
    return [x for p in parts for x in p[0]], [len(values), *shape]


def make_tensor(
    values: Any, dtype: str = "float32", shape: Sequence[int] | None = None
) -> tensor_pb2.TensorProto:
    """Build a TensorProto from a scalar or (nested) list; ``shape`` overrides the inferred one."""
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    enum, field, _fmt = _DTYPES[dtype]
    flat, inferred = _flatten(values)
    dims = list(shape) if shape is not None else inferred
    count = 1
    for d in dims:
        count *= d
    if count != len(flat):
        raise ValueError(f"shape {dims} needs {count} values, got {len(flat)}")
    proto = tensor_pb2.TensorProto(dtype=enum)  # type: ignore[arg-type]
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    if dtype == "string":
        flat = [v.encode() if isinstance(v, str) else bytes(v) for v in flat]
    getattr(proto, field).extend(flat)
    return proto


def tensor_shape(proto: tensor_pb2.TensorProto) -> list[int]:
    return [int(d.size) for d in proto.tensor_shape.dim]


def _nest(flat: list[Any], shape: list[int]) -> Any:
    if not shape:
        return flat[0] if flat else None
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def tensor_to_list(proto: tensor_pb2.TensorProto) -> Any:
    """Decode a TensorProto into nested lists (or a scalar for a rank-0 tensor).

    Handles both encodings TF Serving uses: the typed ``*_val`` fields and the packed
    little-endian ``tensor_content``. A single value with a larger shape is broadcast, as
    TensorFlow does.
    """
    if proto.dtype not in _BY_ENUM:
        raise ValueError(f"unsupported dtype {tensor_pb2.DataType.Name(proto.dtype)}")
    _name, field, fmt = _BY_ENUM[proto.dtype]
    shape = tensor_shape(proto)
    count = 1
    for d in shape:
        count *= d
    if proto.tensor_content and fmt:
        size = struct.calcsize(fmt)
        n = len(proto.tensor_content) // size
        flat = list(struct.unpack(f"<{n}{fmt}", proto.tensor_content))
    else:
        flat = list(getattr(proto, field))
        if len(flat) == 1 and count > 1:
            flat = flat * count
    if len(flat) != count:
        raise ValueError(f"tensor of shape {shape} holds {len(flat)} values")
    return _nest(flat, shape)
