"""The wire shape of every message type, declared once as Avro schemas.

The `.avsc` files under kafkalab/resources/schemas/v<N>/ are the single description of
each message's fields and types. The Avro codec uses them directly; JSON and MessagePack
payloads carry no types of their own, so `check_shape` holds their decoded values to
the same schema (same fields, same types, 64-bit integers) before the model validates
the values. A payload that decodes but has the wrong shape is rejected with the path
of the first bad field, e.g. "trade field 'price' must be a number (got str)".
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from kafkalab.core.models import MESSAGE_TYPES, InvalidMessage

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (SCHEMA_VERSION,)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Checker = Callable[[Any, str], Any]


class ShapeError(InvalidMessage):
    """A payload decoded but its fields or types are not those of its message type."""


@lru_cache(maxsize=None)
def load_schema(message_type: str, version: int = SCHEMA_VERSION) -> dict:
    """The Avro schema (as a dict) of a message type, from the package resources."""
    if message_type not in MESSAGE_TYPES:
        raise KeyError(message_type)
    path = resources.files("kafkalab.resources") / "schemas" / f"v{version}" / f"{message_type}.avsc"
    return json.loads(path.read_text(encoding="utf-8"))


def _where(path: str) -> str:
    return f"field '{path}'" if path else "payload"


def _long(value: Any, path: str) -> int:
    # bool is an int subclass; a JSON true is not a count or a timestamp.
    if type(value) is not int:
        raise ShapeError(f"{_where(path)} must be an integer (got {type(value).__name__})")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ShapeError(f"{_where(path)} does not fit in 64 bits")
    return value


def _double(value: Any, path: str) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:  # another producer may write 100 for 100.0; the value is the same
        try:
            return float(value)
        except OverflowError:
            raise ShapeError(f"{_where(path)} is out of the range of a double") from None
    raise ShapeError(f"{_where(path)} must be a number (got {kind.__name__})")


def _string(value: Any, path: str) -> str:
    if type(value) is not str:
        raise ShapeError(f"{_where(path)} must be a string (got {type(value).__name__})")
    return value


_PRIMITIVES: dict[str, Checker] = {"long": _long, "int": _long, "double": _double, "float": _double, "string": _string}


def _compile(schema: Any, named: dict[str, Checker], namespace: str) -> Checker:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        full = schema if "." in schema else f"{namespace}.{schema}"
        return named[full]
    kind = schema["type"]
    if kind == "record":
        return _compile_record(schema, named, namespace)
    if kind == "array":
        return _compile_array(schema, named, namespace)
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise ValueError(f"schema type {kind!r} is not supported by the shape checker")


def _compile_record(schema: dict, named: dict[str, Checker], namespace: str) -> Checker:
    namespace = schema.get("namespace", namespace)
    name = schema["name"]
    fields: list[tuple[str, Checker]] = []
    names = frozenset(f["name"] for f in schema["fields"])

    def check(value: Any, path: str) -> dict:
        if type(value) is not dict:
            raise ShapeError(f"{_where(path)} must be a map of fields (got {type(value).__name__})")
        if value.keys() != names:
            missing = sorted(names - value.keys())
            if missing:
                raise ShapeError(f"{_where(path)} lacks field(s) {', '.join(missing)}")
            extra = sorted(repr(k)[:40] for k in value.keys() - names)
            raise ShapeError(f"{_where(path)} has unexpected field(s) {', '.join(extra[:5])}")
        prefix = f"{path}." if path else ""
        return {key: field_check(value[key], prefix + key) for key, field_check in fields}

    # Register before compiling the fields so later fields can refer to this type by name.
    named[f"{namespace}.{name}"] = check
    for field in schema["fields"]:
        fields.append((field["name"], _compile(field["type"], named, namespace)))
    return check


def _compile_array(schema: dict, named: dict[str, Checker], namespace: str) -> Checker:
    item_check = _compile(schema["items"], named, namespace)

    def check(value: Any, path: str) -> list:
        if type(value) is not list:
            raise ShapeError(f"{_where(path)} must be a list (got {type(value).__name__})")
        return [item_check(item, f"{path}[{i}]") for i, item in enumerate(value)]

    return check


@lru_cache(maxsize=None)
def shape_checker(message_type: str, version: int = SCHEMA_VERSION) -> Checker:
    return _compile(load_schema(message_type, version), {}, "")


def check_shape(data: Any, message_type: str, version: int = SCHEMA_VERSION) -> dict:
    """The decoded value with the schema's fields and types (ints widened to floats where
    the schema says double); raises ShapeError naming the first bad field."""
    try:
        return shape_checker(message_type, version)(data, "")
    except ShapeError as exc:
        raise ShapeError(f"{message_type} {exc}") from None
