"""Serializers: round trips for every message type x format, header handling, every
class of bad input, and fuzzing that decode() only ever raises InvalidMessage."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalab.core import models, serde
from kafkalab.errors import ConfigError
from kafkalab.core.models import BookFeatures, Candle, InvalidMessage, Level, OrderBook, Trade, Venue
from kafkalab.core.serde.schemas import load_schema

NOW = models.now_us()
INT64 = 2**63 - 1

symbols = st.text(min_size=1, max_size=16)
timestamps = st.integers(models.MIN_TS_US, NOW)
ids = st.integers(1, INT64)
positive = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False, allow_nan=False)
windows = st.integers(-(2**62), 2**62).flatmap(lambda start: st.tuples(st.just(start), st.integers(start + 1, 2**62 + 1)))

trades = st.builds(Trade, symbols, ids, positive, positive, st.sampled_from(["buy", "sell"]), timestamps, timestamps)
levels_of = lambda price: st.builds(Level, st.just(price), positive, ids)  # noqa: E731


@st.composite
def orderbooks(draw) -> OrderBook:
    prices = sorted(draw(st.sets(positive, min_size=2, max_size=30)))
    split = draw(st.integers(1, len(prices) - 1))
    bids = tuple(draw(levels_of(p)) for p in reversed(prices[:split]))
    asks = tuple(draw(levels_of(p)) for p in prices[split:])
    venue = draw(st.builds(Venue, st.text(max_size=30), st.text(max_size=4), st.text(max_size=30)))
    return OrderBook(draw(symbols), draw(ids), venue, bids, asks, draw(timestamps), draw(timestamps))


@st.composite
def candles(draw) -> Candle:
    low, a, b, high = sorted(draw(st.lists(positive, min_size=4, max_size=4)))
    start, end = draw(windows)
    return Candle(draw(symbols), start, end, a, high, low, b, draw(positive), draw(positive),
                  draw(ids), draw(timestamps), draw(timestamps))


book_features = windows.flatmap(lambda w: st.builds(
    BookFeatures, symbols, st.just(w[0]), st.just(w[1]), positive, positive,
    st.floats(-1.0, 1.0), ids, st.integers(-(2**63), INT64), timestamps, timestamps))

any_message = st.one_of(trades, orderbooks(), candles(), book_features)
formats = st.sampled_from(serde.FORMATS)


def examples() -> dict[str, models.Record]:
    """One plausible message of each type."""
    venue = Venue("Simulated Exchange", "XSIM", "UTC")
    return {
        "trade": Trade("BTC-USD", 7, 64_123.5, 0.25, "buy", NOW, NOW),
        "orderbook": OrderBook("BTC-USD", 3, venue, (Level(100.0, 1.0, 2), Level(99.5, 2.0, 1)),
                               (Level(100.5, 1.5, 3), Level(101.0, 0.5, 1)), NOW, NOW),
        "candle": Candle("BTC-USD", NOW - 1_000_000, NOW, 100.0, 101.0, 99.0, 100.5, 12.0, 100.2, 7, NOW, NOW),
        "book_features": BookFeatures("BTC-USD", NOW - 1_000_000, NOW, 100.25, 0.5, -0.2, 4, 9, NOW, NOW),
    }


EXAMPLES = examples()
CASES = [(fmt, mtype) for fmt in serde.FORMATS for mtype in EXAMPLES]


def reason(value, headers) -> str:
    with pytest.raises(InvalidMessage) as info:
        serde.decode(value, headers)
    text = str(info.value)
    assert text and "\n" not in text and len(text) <= 300
    return text


# --- round trips ------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(message=any_message, fmt=formats)
def test_round_trip_is_identical(message, fmt):
    payload, headers = serde.encode(message, fmt)
    decoded = serde.decode(payload, headers)
    assert decoded == message
    assert type(decoded) is type(message)
    # Equal and bit-identical floats (== would pass 0.0 for -0.0).
    for field in ("price", "size", "open", "close", "vwap", "imbalance", "spread"):
        if hasattr(message, field):
            assert math.copysign(1, getattr(decoded, field)) == math.copysign(1, getattr(message, field))


@pytest.mark.parametrize("fmt, mtype", CASES)
def test_every_type_in_every_format(fmt, mtype):
    message = EXAMPLES[mtype]
    payload, headers = serde.encode(message, fmt)
    assert isinstance(payload, bytes) and payload
    assert dict(headers) == {
        "content-type": serde.CONTENT_TYPES[fmt].encode(),
        "message-type": mtype.encode(),
        "schema-version": b"1",
    }
    assert serde.decode(payload, headers) == message
    assert serde.format_of(headers) == fmt


def test_schemas_cover_every_model_field():
    for mtype, cls in models.MESSAGE_TYPES.items():
        assert [f["name"] for f in load_schema(mtype)["fields"]] == list(cls.field_names())


def test_binary_formats_are_smaller_than_json():
    for mtype, message in EXAMPLES.items():
        sizes = {fmt: len(serde.encode(message, fmt)[0]) for fmt in serde.FORMATS}
        assert sizes["avro"] < sizes["msgpack"] < sizes["json"], (mtype, sizes)


def test_consumer_decodes_whatever_the_producer_chose():
    received = [serde.encode(EXAMPLES["trade"], fmt) for fmt in serde.FORMATS]
    assert [serde.decode(p, h) for p, h in received] == [EXAMPLES["trade"]] * 3


def test_integers_in_a_double_field_are_accepted_as_floats():
    record = EXAMPLES["trade"].to_record() | {"price": 64123}
    _, headers = serde.encode(EXAMPLES["trade"], "json")
    decoded = serde.decode(serde.codecs.json_encode(record, "trade"), headers)
    assert decoded.price == 64123.0 and type(decoded.price) is float


# --- format names and headers ----------------------------------------------------------

def test_check_format():
    assert serde.check_format("json") == "json"
    assert serde.check_format(" Avro ") == "avro"
    with pytest.raises(ConfigError, match="unknown serializer 'xml'; choose one of json, msgpack, avro"):
        serde.check_format("xml")
    with pytest.raises(ConfigError):
        serde.encode(EXAMPLES["trade"], "protobuf")


def test_headers_are_a_fresh_list_per_message():
    _, first = serde.encode(EXAMPLES["trade"], "json")
    first.append(("x", b"y"))
    assert len(serde.encode(EXAMPLES["trade"], "json")[1]) == 3


@pytest.mark.parametrize("headers, expected", [
    (None, "missing header"),
    ([], "missing header"),
    ([("message-type", b"trade"), ("schema-version", b"1")], "missing header(s) content-type"),
    ([("content-type", b"application/json"), ("schema-version", b"1")], "missing header(s) message-type"),
    ([("content-type", b"application/json"), ("message-type", b"trade")], "missing header(s) schema-version"),
    ([("content-type", b"text/xml"), ("message-type", b"trade"), ("schema-version", b"1")], "unknown content-type"),
    ([("content-type", b"application/json"), ("message-type", b"quote"), ("schema-version", b"1")], "unknown message-type"),
    ([("content-type", b"application/json"), ("message-type", b"trade"), ("schema-version", b"2")], "unsupported schema-version"),
    ([("content-type", b"application/json"), ("message-type", b"trade"), ("schema-version", b"one")], "unsupported schema-version"),
    ([("content-type", b"\xff\xfe"), ("message-type", b"trade"), ("schema-version", b"1")], "not ASCII"),
    ([("content-type", None), ("message-type", b"trade"), ("schema-version", b"1")], "has no value"),
    ([("content-type",), ("message-type", b"trade")], "not (name, value) pairs"),
])
def test_bad_headers(headers, expected):
    payload, _ = serde.encode(EXAMPLES["trade"], "json")
    assert expected in reason(payload, headers)


def test_content_type_parameters_and_extra_headers_are_tolerated():
    payload, headers = serde.encode(EXAMPLES["trade"], "json")
    headers = [("traceparent", b"00-abc"), ("content-type", b"application/json; charset=utf-8"), *headers[1:]]
    assert serde.decode(payload, headers) == EXAMPLES["trade"]


def test_headers_name_the_decoder_not_the_bytes():
    # An Avro payload under JSON headers is corrupt JSON, not silently another format.
    payload, _ = serde.encode(EXAMPLES["trade"], "avro")
    _, json_headers = serde.encode(EXAMPLES["trade"], "json")
    assert "corrupt json payload for trade" in reason(payload, json_headers)


# --- bad input, class by class -------------------------------------------------------------

@pytest.mark.parametrize("fmt", serde.FORMATS)
def test_tombstone_and_oversized_values(fmt):
    _, headers = serde.encode(EXAMPLES["trade"], fmt)
    assert "no value" in reason(None, headers)
    assert "exceeds" in reason(b"\x00" * (serde.MAX_PAYLOAD_BYTES + 1), headers)


@pytest.mark.parametrize("fmt, mtype", CASES)
def test_corrupt_bytes(fmt, mtype):
    payload, headers = serde.encode(EXAMPLES[mtype], fmt)
    for bad in (b"", payload[: len(payload) // 2], payload + b"\x00garbage", b"\xff" * 40):
        assert isinstance(reason(bad, headers), str)


@pytest.mark.parametrize("fmt", serde.FORMATS)
@pytest.mark.parametrize("sent, claimed", [("candle", "trade"), ("trade", "orderbook"),
                                           ("book_features", "candle"), ("orderbook", "book_features")])
def test_valid_encoding_of_the_wrong_type(fmt, sent, claimed):
    payload, _ = serde.encode(EXAMPLES[sent], fmt)
    _, headers = serde.encode(EXAMPLES[claimed], fmt)
    text = reason(payload, headers)
    assert claimed in text


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@pytest.mark.parametrize("mutate, expected", [
    (lambda r: {k: v for k, v in r.items() if k != "price"}, "lacks field(s) price"),
    (lambda r: r | {"extra": 1}, "unexpected field(s) 'extra'"),
    (lambda r: r | {"price": "64123.5"}, "field 'price' must be a number (got str)"),
    (lambda r: r | {"trade_id": True}, "field 'trade_id' must be an integer (got bool)"),
    (lambda r: r | {"trade_id": 1.0}, "field 'trade_id' must be an integer (got float)"),
    (lambda r: r | {"trade_id": 2**63}, "does not fit in 64 bits"),
    (lambda r: r | {"symbol": None}, "field 'symbol' must be a string"),
    (lambda r: [1, 2, 3], "payload must be a map of fields (got list)"),
    (lambda r: 42, "payload must be a map of fields (got int)"),
])
def test_wrong_shape_in_schemaless_formats(fmt, mutate, expected):
    record = mutate(EXAMPLES["trade"].to_record())
    encoder = serde.codecs.ENCODERS[fmt]
    _, headers = serde.encode(EXAMPLES["trade"], fmt)
    assert expected in reason(encoder(record, "trade"), headers)


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r | {"venue": "XSIM"}, "field 'venue' must be a map"),
    (lambda r: r | {"venue": {"name": "X", "mic": "XSIM"}}, "field 'venue' lacks field(s) timezone"),
    (lambda r: r | {"bids": {"price": 1}}, "field 'bids' must be a list"),
    (lambda r: r | {"asks": [r["asks"][0], {"price": "x", "size": 1.0, "orders": 1}]}, "field 'asks[1].price'"),
])
def test_wrong_nested_shape(fmt, mutate, expected):
    record = mutate(EXAMPLES["orderbook"].to_record())
    _, headers = serde.encode(EXAMPLES["orderbook"], fmt)
    assert expected in reason(serde.codecs.ENCODERS[fmt](record, "orderbook"), headers)


def test_msgpack_specific_garbage():
    import msgpack

    _, headers = serde.encode(EXAMPLES["trade"], "msgpack")
    record = EXAMPLES["trade"].to_record()
    assert "must be a string (got bytes)" in reason(msgpack.packb(record | {"symbol": b"BTC"}, use_bin_type=True), headers)
    assert "corrupt msgpack" in reason(msgpack.packb({1: 2}), headers)  # non-string map key
    assert "got ExtType" in reason(msgpack.packb(record | {"price": msgpack.ExtType(5, b"x")}), headers)


def test_json_specific_garbage():
    _, headers = serde.encode(EXAMPLES["trade"], "json")
    assert "corrupt json" in reason(b"\xff\xfe{}", headers)  # not UTF-8
    assert "corrupt json" in reason(b"[" * 100_000, headers)  # nesting deeper than the recursion limit
    assert "corrupt json" in reason(b'{"a": 1} {"b": 2}', headers)  # two documents


ABSURD = [
    ("trade", dict(size=-1.0), "size must be positive"),
    ("trade", dict(price=float("nan")), "price is not finite"),
    ("trade", dict(price=float("inf")), "price is not finite"),
    ("trade", dict(side="hold"), "side must be"),
    ("trade", dict(trade_id=0), "trade_id must be a positive"),
    ("trade", dict(symbol=""), "symbol is not a short string"),
    ("trade", dict(event_ts_us=NOW + 10 * 3600 * 10**6), "too far in the future"),
    ("trade", dict(produced_ts_us=12), "too far in the past"),
    ("orderbook", dict(bids=()), "empty side"),
    ("orderbook", dict(asks=(Level(99.0, 1.0, 1),)), "crossed"),
    ("orderbook", dict(bids=(Level(99.0, 1.0, 1), Level(99.5, 1.0, 1))), "descending"),
    ("orderbook", dict(asks=(Level(101.0, -1.0, 1),)), "ask size must be positive"),
    ("candle", dict(low=100.7), "outside low..high"),
    ("candle", dict(window_end_us=NOW - 2_000_000), "window ends before it starts"),
    ("candle", dict(volume=0.0), "volume must be positive"),
    ("book_features", dict(imbalance=1.5), "imbalance outside"),
    ("book_features", dict(imbalance=float("nan")), "imbalance outside"),
]


@pytest.mark.parametrize("fmt", serde.FORMATS)
@pytest.mark.parametrize("mtype, changes, expected", ABSURD)
def test_absurd_values(fmt, mtype, changes, expected):
    # The dataclasses do not validate on construction, so a bad message encodes fine.
    message = dataclasses.replace(EXAMPLES[mtype], **changes)
    text = reason(*serde.encode(message, fmt))
    assert text.startswith(f"invalid {mtype}: ") and expected in text


# --- Avro garbage must fail fast and small -----------------------------------------------------

def _zigzag_varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("payload", [
    _zigzag_varint(2**40) + b"BTC",  # a symbol "of 1 TiB"
    _zigzag_varint(3) + b"BTC" + _zigzag_varint(1) + _zigzag_varint(2**40) + b"XSIM" + b"\x00" * 16,
    # an order book whose bids array claims 2**62 levels (or a negative block count with a byte size)
    _zigzag_varint(3) + b"BTC" + _zigzag_varint(1) + b"\x00\x00\x00" + _zigzag_varint(2**62) + b"\x00" * 17,
    _zigzag_varint(3) + b"BTC" + _zigzag_varint(1) + b"\x00\x00\x00" + _zigzag_varint(-(2**62)) + _zigzag_varint(2**62),
    b"\xff" * 64,  # a varint that never ends
])
def test_avro_garbage_lengths_do_not_allocate_or_hang(payload):
    _, headers = serde.encode(EXAMPLES["orderbook"], "avro")
    tracemalloc.start()
    try:
        reason(payload, headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"decoding {len(payload)} bytes allocated {peak} bytes"


# --- fuzzing: decode() of anything raises InvalidMessage or returns a valid record --------------

header_values = st.one_of(st.none(), st.binary(max_size=24), st.text(max_size=24),
                          st.sampled_from([v.encode() for v in serde.CONTENT_TYPES.values()]),
                          st.sampled_from([t.encode() for t in models.MESSAGE_TYPES]),
                          st.sampled_from([b"1", b"0", b"-1", b"99999999999"]))
header_names = st.sampled_from(["content-type", "message-type", "schema-version", "other"])
random_headers = st.one_of(st.none(), st.lists(st.tuples(header_names, header_values), max_size=6))
valid_headers = st.builds(lambda fmt, mtype: serde.encode(EXAMPLES[mtype], fmt)[1], formats, st.sampled_from(list(EXAMPLES)))


def _decode_or_invalid(value, headers):
    try:
        result = serde.decode(value, headers)
    except InvalidMessage as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    result.validate()  # whatever gets through is a valid message
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(st.none(), st.binary(max_size=400)), headers=st.one_of(random_headers, valid_headers))
def test_fuzz_arbitrary_bytes_and_headers(value, headers):
    _decode_or_invalid(value, headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=any_message, fmt=formats, data=st.data())
def test_fuzz_mutated_valid_payloads(message, fmt, data):
    payload, headers = serde.encode(message, fmt)
    raw = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and raw:
            del raw[at]
        else:
            del raw[at:]
    _decode_or_invalid(bytes(raw), headers)


@settings(max_examples=200, deadline=None)
@given(record=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=12),
    max_leaves=30), fmt=st.sampled_from(["json", "msgpack"]), mtype=st.sampled_from(list(EXAMPLES)))
def test_fuzz_well_formed_documents_of_any_shape(record, fmt, mtype):
    try:
        payload = serde.codecs.ENCODERS[fmt](record, mtype)
    except (ValueError, TypeError, OverflowError):  # msgpack cannot pack ints beyond 64 bits
        return
    _decode_or_invalid(payload, serde.encode(EXAMPLES[mtype], fmt)[1])


@settings(max_examples=100, deadline=None)
@given(message=any_message)
def test_fast_wire_dict_equals_to_record(message):
    assert serde.to_wire(message) == message.to_record()
