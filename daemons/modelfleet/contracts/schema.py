"""From one typed declaration: the JSON a producer writes, the check a consumer runs, and the
JSON Schema the OpenAPI document publishes.

A contract is a frozen dataclass (or a ``TypedDict``) whose field types are JSON types:
``int``, ``float``, ``str``, ``bool``, ``None``, ``Literal[...]``, ``X | None``,
``tuple[X, ...]`` / ``list[X]``, ``dict[str, X]`` / ``Mapping[str, X]``, other contracts,
and ``Annotated[X, rule(check, **schema)]`` for a field with a validator (a model name, a
version) and the JSON Schema keywords that say the same thing. Three functions use it:

- :func:`to_json` turns a contract value into plain JSON data (what a producer sends);
- :func:`from_json` checks and converts JSON data into the contract (what a consumer
  trusts), raising :class:`ContractError` with the path of the first bad field; unknown
  object keys are ignored (a newer peer may add fields during a rolling upgrade);
- :func:`json_schema` gives the JSON Schema (OpenAPI 3.1), registering each contract once
  under ``components`` and referring to it by ``$ref``; a contract's ``__schema_extra__``
  (a plain class attribute) adds rules across its fields.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = ["ContractError", "Rule", "from_json", "json_schema", "rule", "to_json"]

T = TypeVar("T")


class ContractError(ValueError):
    """JSON data that does not follow its contract; the message starts with the field path."""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: Union needs hashes
class Rule:
    """``Annotated`` metadata: a check run after the type check, and its JSON Schema words."""

    check: Callable[[Any], Any] | None = None
    schema: Mapping[str, Any] = field(default_factory=dict)


def rule(check: Callable[[Any], Any] | None = None, **schema: Any) -> Rule:
    return Rule(check, schema)


def _is_contract(tp: Any) -> bool:
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp))


@functools.cache
def _fields(tp: type) -> list[tuple[str, Any, bool]]:
    """(name, type, required) of a contract's fields, in declaration order (resolved once
    per type: ``get_type_hints`` evaluates every annotation string)."""
    hints = get_type_hints(tp, include_extras=True)
    if dataclasses.is_dataclass(tp):
        return [
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(tp)
            if f.init
        ]
    required: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
    return [(name, hints[name], name in required) for name in hints]


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


# -- producing ------------------------------------------------------------------------------


def to_json(value: Any, *, omit_none: bool = False) -> Any:
    """Plain JSON data (dicts, lists, str, int, float, bool, None) of a contract value;
    ``omit_none`` leaves out contract fields that are None (optional fields not set)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and omit_none:
                continue
            out[f.name] = to_json(item, omit_none=omit_none)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v, omit_none=omit_none) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v, omit_none=omit_none) for v in value]
    return value


# -- consuming ------------------------------------------------------------------------------


def _fail(where: str, message: str) -> ContractError:
    return ContractError(f"{where or 'document'}: {message}")


def from_json(tp: Any, data: Any, where: str = "") -> Any:
    """``data`` checked against ``tp`` and converted (tuples, contracts); raises ContractError."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        value = from_json(base, data, where)
        for m in meta:
            if isinstance(m, Rule) and m.check is not None:
                try:
                    checked = m.check(value)
                except (ValueError, TypeError) as exc:
                    raise _fail(where, str(exc)) from None
                value = value if checked is None else checked
        return value
    if tp is Any or tp is object:
        return data
    if tp is type(None) or tp is None:
        if data is not None:
            raise _fail(where, "must be null")
        return None
    if tp is bool:
        if not isinstance(data, bool):
            raise _fail(where, "must be true or false")
        return data
    if tp is int:
        # JSON Schema's integer is a value: 3 and 3.0 are the same number (never "3").
        if isinstance(data, float) and data.is_integer():
            return int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise _fail(where, "must be an integer")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise _fail(where, "must be a number")
        return float(data)
    if tp is str:
        if not isinstance(data, str):
            raise _fail(where, "must be a string")
        return data
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise _fail(where, f"must be one of {[e.value for e in tp]}") from None
    if origin is Literal:
        if not any(data == a and type(data) is type(a) for a in get_args(tp)):
            raise _fail(where, f"must be one of {list(get_args(tp))}")
        return data
    if _is_union(origin):
        errors = []
        for option in get_args(tp):
            try:
                return from_json(option, data, where)
            except ContractError as exc:
                errors.append(str(exc))
        raise _fail(where, "; or ".join(e.split(": ", 1)[-1] for e in errors))
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        if not isinstance(data, list):
            raise _fail(where, "must be a list")
        args = get_args(tp)
        item = args[0] if args else Any
        items = [from_json(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        if not isinstance(data, dict):
            raise _fail(where, "must be an object")
        key_tp, value_tp = get_args(tp) or (str, Any)
        return {
            from_json(key_tp, k, f"{where}.{k}"): from_json(value_tp, v, f"{where}.{k}")
            for k, v in data.items()
        }
    if _is_contract(tp):
        if not isinstance(data, dict):
            raise _fail(where, "must be an object")
        values = {}
        for name, ftp, required in _fields(tp):
            path = f"{where}.{name}" if where else name
            if name in data:
                values[name] = from_json(ftp, data[name], path)
            elif required:
                raise _fail(path, "is required")
        if typing.is_typeddict(tp):
            return values
        try:
            return tp(**values)
        except (ValueError, TypeError) as exc:
            raise _fail(where, str(exc)) from None
    raise TypeError(f"no JSON contract for type {tp!r}")  # pragma: no cover - declaration bug


# -- describing -----------------------------------------------------------------------------

_SIMPLE = {int: "integer", float: "number", str: "string", bool: "boolean"}
_NAMES: dict[str, Any] = {}  # contract name → its type: a name means one declaration


def _component_name(tp: type) -> str:
    owner = _NAMES.setdefault(tp.__name__, tp)
    if owner is not tp:
        raise TypeError(
            f"two contracts named {tp.__name__}: {owner.__module__} and {tp.__module__} "
            "(a document is declared once; reuse it or rename one)"
        )
    return tp.__name__


def json_schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema (OpenAPI 3.1) of ``tp``; contracts go to ``components`` as ``$ref`` s."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        schema = dict(json_schema(base, components))
        for m in meta:
            if isinstance(m, Rule):
                schema.update(m.schema)
        return schema
    if tp is Any or tp is object:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if isinstance(tp, type) and tp in _SIMPLE:  # generic aliases of Annotated do not hash
        return {"type": _SIMPLE[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [e.value for e in tp]}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if _is_union(origin):
        options = [json_schema(o, components) for o in get_args(tp)]
        return {"anyOf": options}
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        args = get_args(tp)
        return {"type": "array", "items": json_schema(args[0] if args else Any, components)}
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        key_tp, value_tp = get_args(tp) or (str, Any)
        schema = {"type": "object", "additionalProperties": json_schema(value_tp, components)}
        key_schema = json_schema(key_tp, components)
        if set(key_schema) - {"type"}:
            schema["propertyNames"] = key_schema
        return schema
    if _is_contract(tp):
        name = _component_name(tp)
        if name not in components:
            components[name] = {}  # placeholder first: contracts may refer to themselves
            properties = {n: json_schema(f, components) for n, f, _ in _fields(tp)}
            schema = {
                "type": "object",
                "properties": properties,
                "required": [n for n, _, req in _fields(tp) if req],
                "additionalProperties": False,
            }
            # Rules across fields ("exactly one of zone or node") as JSON Schema words.
            schema.update(getattr(tp, "__schema_extra__", {}))
            doc = (tp.__doc__ or "").strip()
            if doc and not doc.startswith(f"{name}("):
                schema["description"] = doc.split("\n\n")[0]
            components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON schema for type {tp!r}")  # pragma: no cover - declaration bug
