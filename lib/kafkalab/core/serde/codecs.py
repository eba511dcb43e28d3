"""The three wire formats: bytes <-> the wire dict of `models.Record.to_record()`.

Each codec encodes a wire dict of a message type and decodes bytes back to one; a
decoder may raise any exception on bad bytes (the serde layer turns it into an
InvalidMessage with the reason). JSON and MessagePack are self-describing; Avro is the
schema-based format: a payload is just the field values, in schema order, with no
schema id inside (the message-type and schema-version headers name the schema).
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any

import fastavro
import msgpack

from kafkalab.core.serde.schemas import SCHEMA_VERSION, load_schema


class TrailingBytes(ValueError):
    """The payload holds more than one value: it was not written for this schema."""


# --- JSON (the baseline): compact separators, UTF-8 bytes -----------------------------
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_JSON_DECODER = json.JSONDecoder()


def json_encode(record: dict, message_type: str) -> bytes:
    return _JSON_ENCODER.encode(record).encode("utf-8")


def json_decode(payload: bytes, message_type: str, version: int = SCHEMA_VERSION) -> Any:
    # decode() rejects invalid UTF-8 and trailing data (json.loads would too).
    return _JSON_DECODER.decode(payload.decode("utf-8"))


# --- MessagePack: binary JSON-like, floats as float64, strings as str ------------------
def msgpack_encode(record: dict, message_type: str) -> bytes:
    return msgpack.packb(record, use_bin_type=True)


def msgpack_decode(payload: bytes, message_type: str, version: int = SCHEMA_VERSION) -> Any:
    # unpackb bounds every container/string length by the payload size, rejects
    # non-string map keys (strict_map_key) and raises ExtraData on trailing bytes.
    return msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)


# --- Avro (fastavro), schemaless binary encoding -------------------------------------
@lru_cache(maxsize=None)
def avro_schema(message_type: str, version: int = SCHEMA_VERSION):
    return fastavro.parse_schema(load_schema(message_type, version))


def avro_encode(record: dict, message_type: str) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, avro_schema(message_type), record)
    return out.getvalue()


def avro_decode(payload: bytes, message_type: str, version: int = SCHEMA_VERSION) -> Any:
    # Reading from an in-memory buffer bounds every read by the payload size: a garbage
    # length prefix ("a string of 2**40 bytes") fails with EOFError instead of allocating.
    buffer = io.BytesIO(payload)
    schema = avro_schema(message_type, version)
    record = fastavro.schemaless_reader(buffer, schema, schema)
    if buffer.tell() != len(payload):
        # Avro has no framing: a payload written for another schema often decodes
        # partially; leftover bytes are the tell.
        raise TrailingBytes(f"{len(payload) - buffer.tell()} bytes left after the record")
    return record


ENCODERS = {"json": json_encode, "msgpack": msgpack_encode, "avro": avro_encode}
DECODERS = {"json": json_decode, "msgpack": msgpack_decode, "avro": avro_decode}
# Avro's reader already yields exactly the schema's types; the others need the check.
TYPED_FORMATS = frozenset({"avro"})
