"""Serializers: every message type in JSON (baseline), MessagePack or Avro.

The producer picks a format (per topic/component configuration); the format travels in
the record headers, so a consumer decodes whatever it receives:

    payload, headers = encode(trade, "avro")
    producer.produce(topic, key=trade.symbol, value=payload, headers=headers)
    ...
    record = decode(msg.value(), msg.headers())   # -> models.Trade (validated)

Headers written: content-type (application/json | application/msgpack | application/avro),
message-type (trade | orderbook | candle | book_features) and schema-version ("1").

`decode` raises `models.InvalidMessage` (subclasses below) with a one-line reason for
anything a consumer must not process: missing/unknown headers, an oversized or corrupt
payload, a valid encoding of the wrong shape, missing fields, absurd values. Consumers
send such records to dead letters (kafkalab.transports.kafka.deadletters) and keep going.
"""

from __future__ import annotations

from typing import Sequence

from kafkalab.errors import ConfigError
from kafkalab.core.models import MESSAGE_TYPES, InvalidMessage, Record
from kafkalab.core.serde.codecs import DECODERS, ENCODERS, TYPED_FORMATS
from kafkalab.core.serde.fast import KnownHeaders
from kafkalab.core.serde.schemas import SCHEMA_VERSION, SUPPORTED_VERSIONS, ShapeError, check_shape
from kafkalab.core.serde.wire import to_wire

__all__ = [
    "FORMATS", "CONTENT_TYPES", "SCHEMA_VERSION", "MAX_PAYLOAD_BYTES",
    "H_CONTENT_TYPE", "H_MESSAGE_TYPE", "H_SCHEMA_VERSION",
    "HeaderError", "CorruptPayload", "ShapeError", "InvalidMessage",
    "check_format", "encode", "decode", "decode_reference", "format_of", "to_wire",
]

FORMATS = ("json", "msgpack", "avro")
CONTENT_TYPES = {"json": "application/json", "msgpack": "application/msgpack", "avro": "application/avro"}
_FORMAT_OF_CONTENT_TYPE = {v: k for k, v in CONTENT_TYPES.items()}

H_CONTENT_TYPE = "content-type"
H_MESSAGE_TYPE = "message-type"
H_SCHEMA_VERSION = "schema-version"
_WANTED = (H_CONTENT_TYPE, H_MESSAGE_TYPE, H_SCHEMA_VERSION)

# Our largest message (a 20-level order book in JSON) is under 2 KB; a payload beyond this
# is not one of ours, and decoding it would only cost time and memory.
MAX_PAYLOAD_BYTES = 256 * 1024
_MAX_REASON = 300

# Encoded once: headers are the same for every record of a (format, type).
_HEADERS = {
    (fmt, mtype): [
        (H_CONTENT_TYPE, CONTENT_TYPES[fmt].encode()),
        (H_MESSAGE_TYPE, mtype.encode()),
        (H_SCHEMA_VERSION, str(SCHEMA_VERSION).encode()),
    ]
    for fmt in FORMATS
    for mtype in MESSAGE_TYPES
}


class HeaderError(InvalidMessage):
    """The headers do not say (or say something unknown about) how to decode the value."""


class CorruptPayload(InvalidMessage):
    """The bytes are not a valid encoding in the format the headers name."""


def check_format(name: str) -> str:
    """The format name, normalized; ConfigError (with the choices) if it is unknown."""
    fmt = str(name).strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown serializer {name!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def encode(message: Record, fmt: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Payload and headers for one message (the headers list is fresh per call)."""
    if fmt not in ENCODERS:
        fmt = check_format(fmt)
    mtype = message.TYPE
    return ENCODERS[fmt](to_wire(message), mtype), list(_HEADERS[fmt, mtype])


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _header_text(name: str, raw: object) -> str:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            return bytes(raw).decode("ascii")
        except UnicodeDecodeError:
            raise HeaderError(f"header {name} is not ASCII text") from None
    if isinstance(raw, str):
        return raw
    raise HeaderError(f"header {name} has no value")


def _read_headers(headers: Sequence[tuple[str, object]] | None) -> tuple[str, str, int]:
    """(format, message type, schema version) from the record headers."""
    found: dict[str, object] = {}
    for item in headers or ():
        try:
            key, raw = item
        except (TypeError, ValueError):
            raise HeaderError("headers are not (name, value) pairs") from None
        if key in _WANTED and key not in found:  # the first occurrence wins
            found[key] = raw
    missing = [name for name in _WANTED if name not in found]
    if missing:
        raise HeaderError(f"missing header(s) {', '.join(missing)}; the producer must use kafkalab.core.serde.encode")
    content_type = _header_text(H_CONTENT_TYPE, found[H_CONTENT_TYPE]).split(";")[0].strip().lower()
    fmt = _FORMAT_OF_CONTENT_TYPE.get(content_type)
    if fmt is None:
        raise HeaderError(f"unknown content-type {_one_line(content_type)[:60]!r}; "
                          f"expected one of {', '.join(CONTENT_TYPES.values())}")
    mtype = _header_text(H_MESSAGE_TYPE, found[H_MESSAGE_TYPE])
    if mtype not in MESSAGE_TYPES:
        raise HeaderError(f"unknown message-type {mtype[:60]!r}; expected one of {', '.join(MESSAGE_TYPES)}")
    version_text = _header_text(H_SCHEMA_VERSION, found[H_SCHEMA_VERSION])
    version = int(version_text) if version_text.isdigit() and len(version_text) < 6 else -1
    if version not in SUPPORTED_VERSIONS:
        raise HeaderError(f"unsupported schema-version {version_text[:20]!r}; "
                          f"this consumer reads {', '.join(map(str, SUPPORTED_VERSIONS))}")
    return fmt, mtype, version


def format_of(headers: Sequence[tuple[str, object]] | None) -> str:
    """The format named by the headers (HeaderError if none is usable)."""
    return _read_headers(headers)[0]


_KNOWN_HEADERS = KnownHeaders(_read_headers)


def decode(value: bytes | None, headers: Sequence[tuple[str, object]] | None) -> Record:
    """The validated message; InvalidMessage (one-line reason) for anything else.

    A well-formed record under headers seen before takes the inline-checked path of
    serde.fast; whatever that path does not accept is decided by `decode_reference`.
    """
    fast = _KNOWN_HEADERS.get(headers)
    if fast is not None and type(value) is bytes and len(value) <= MAX_PAYLOAD_BYTES:
        record = fast(value)
        if record is not None:
            return record
    return decode_reference(value, headers)


def decode_reference(value: bytes | None, headers: Sequence[tuple[str, object]] | None) -> Record:
    """`decode` through the generic checks alone: the rules and the reasons (the shape
    check of schemas.py, then the model's validation); kept as the fast path's fallback
    and as the baseline of `kafkalab bench decode` and of the tests."""
    fmt, mtype, version = _read_headers(headers)
    if value is None:
        raise CorruptPayload(f"{mtype} record has no value (a tombstone)")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise CorruptPayload(f"{mtype} value is {type(value).__name__}, not bytes")
    if len(value) > MAX_PAYLOAD_BYTES:
        raise CorruptPayload(f"{mtype} payload of {len(value)} bytes exceeds the {MAX_PAYLOAD_BYTES} byte limit")
    try:
        data = DECODERS[fmt](bytes(value), mtype, version)
    except Exception as exc:  # any failure of a decoder on foreign bytes means "corrupt"
        raise CorruptPayload(_one_line(f"corrupt {fmt} payload for {mtype}: {type(exc).__name__}: {exc}")) from None
    if fmt not in TYPED_FORMATS:
        data = check_shape(data, mtype, version)
    try:
        return MESSAGE_TYPES[mtype].from_record(data)
    except InvalidMessage as exc:
        raise type(exc)(_one_line(f"invalid {mtype}: {exc}")) from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # validation tripping on a value
        raise InvalidMessage(_one_line(f"invalid {mtype}: {type(exc).__name__}: {exc}")) from None
