"""The fast decode path against the reference: every bad input the tests feed is refused by
both with the same exception type and the same reason, and both give equal records for
generated valid messages (decode() falls back to decode_reference() for anything the fast
path does not accept: these tests hold that the fast path accepts nothing more)."""

from __future__ import annotations

import dataclasses
import json
import re

import msgpack
import pytest
from hypothesis import given, settings

from kafkalab.core import serde
from kafkalab.core.models import InvalidMessage, Level, now_us
from kafkalab.core.serde import fast
from kafkalab.core.serde.codecs import ENCODERS

from integration.kafka import test_bad_input as integration
from unit.core import test_serde as unit

PATHS = (serde.decode, serde.decode_reference)


def outcome(decode, value, headers):
    """(record, None) or (None, (exception type, reason))."""
    try:
        return decode(value, headers), None
    except InvalidMessage as exc:
        # a decoder's message may name its buffer object, whose address differs per call
        return None, (type(exc), re.sub(r" at 0x[0-9a-f]+", " at 0x...", str(exc)))


def assert_same(value, headers, refused=True):
    quick, reference = (outcome(d, value, headers) for d in PATHS)
    assert quick == reference
    if refused:
        assert reference[1] is not None, "a bad input was accepted"


def header_cases():
    payload, _ = serde.encode(unit.EXAMPLES["trade"], "json")
    for mark in unit.test_bad_headers.pytestmark:
        if mark.name == "parametrize":
            for headers, _ in mark.args[1]:
                yield payload, headers


def shape_cases():
    for test, mtype in ((unit.test_wrong_shape_in_schemaless_formats, "trade"),
                        (unit.test_wrong_nested_shape, "orderbook")):
        for mark in test.pytestmark:
            if mark.name != "parametrize" or mark.args[0] != "mutate, expected":
                continue
            for mutate, _ in mark.args[1]:
                for fmt in ("json", "msgpack"):
                    record = mutate(unit.EXAMPLES[mtype].to_record())
                    yield ENCODERS[fmt](record, mtype), serde.encode(unit.EXAMPLES[mtype], fmt)[1]


def unit_cases():
    yield from header_cases()
    yield from shape_cases()
    for fmt in serde.FORMATS:
        for mtype, changes, _ in unit.ABSURD:
            yield serde.encode(dataclasses.replace(unit.EXAMPLES[mtype], **changes), fmt)
        for mtype, message in unit.EXAMPLES.items():
            payload, headers = serde.encode(message, fmt)
            yield None, headers
            yield b"\x00" * (serde.MAX_PAYLOAD_BYTES + 1), headers
            for bad in (b"", payload[: len(payload) // 2], payload + b"\x00garbage", b"\xff" * 40):
                yield bad, headers
            for claimed in unit.EXAMPLES:
                if claimed != mtype:
                    yield payload, serde.encode(unit.EXAMPLES[claimed], fmt)[1]
    record = unit.EXAMPLES["trade"].to_record()
    mp_headers = serde.encode(unit.EXAMPLES["trade"], "msgpack")[1]
    js_headers = serde.encode(unit.EXAMPLES["trade"], "json")[1]
    yield msgpack.packb(record | {"symbol": b"BTC"}, use_bin_type=True), mp_headers
    yield msgpack.packb({1: 2}), mp_headers
    yield msgpack.packb(record | {"price": msgpack.ExtType(5, b"x")}), mp_headers
    yield b"\xff\xfe{}", js_headers
    yield b"[" * 100_000, js_headers
    yield b'{"a": 1} {"b": 2}', js_headers


def integration_cases():
    base = now_us() - 8_000_000
    trade, book = integration.good_trades(base)[0], integration.good_books(base)[0]
    candle = integration.Candle("ZZZ", base - 60_000_000, base - 59_000_000, 1.0, 2.0, 0.5, 1.5, 9.0, 1.2, 3,
                                base - 59_000_000, now_us())
    for bad in integration.bad_trades(trade) + integration.bad_books(book) + integration.bad_candles(candle):
        # Valid messages that a component refuses for its own reasons: "30 s ahead" against the
        # Kafka timestamp, a valid record of another type ("expected ...") on a topic
        decode_refuses = bad.label != "event time 30 s ahead" and not bad.reason.startswith("expected")
        yield bad.label, bad.value, bad.headers, decode_refuses


UNIT_CASES = list(unit_cases())


@pytest.mark.parametrize("index", range(len(UNIT_CASES)))
def test_unit_bad_inputs_get_the_same_refusal_on_both_paths(index):
    assert_same(*UNIT_CASES[index])


@pytest.mark.parametrize("label, value, headers, refused", list(integration_cases()), ids=lambda x: str(x)[:40])
def test_integration_bad_inputs_get_the_same_refusal_on_both_paths(label, value, headers, refused):
    assert_same(value, headers, refused)


def test_the_cases_cover_every_class():
    assert len(UNIT_CASES) > 200 and len(list(integration_cases())) > 50


@settings(max_examples=300, deadline=None)
@given(message=unit.any_message, fmt=unit.formats)
def test_valid_messages_give_equal_records_on_both_paths(message, fmt):
    payload, headers = serde.encode(message, fmt)
    quick = serde.decode(payload, headers)
    assert quick == serde.decode_reference(payload, headers) == message
    assert type(quick) is type(message)


@settings(max_examples=300, deadline=None)
@given(message=unit.any_message, fmt=unit.formats)
def test_the_fast_path_itself_accepts_generated_valid_messages(message, fmt):
    # Not only correct by falling back: the builders take what the producers write.
    payload, headers = serde.encode(message, fmt)
    built = fast.fast_decoder(fmt, message.TYPE, 1)(payload)
    assert built == message
    assert type(built) is type(message)


@settings(max_examples=300, deadline=None)
@given(value=unit.st.one_of(unit.st.none(), unit.st.binary(max_size=400)),
       headers=unit.st.one_of(unit.random_headers, unit.valid_headers))
def test_fuzzed_bytes_and_headers_get_the_same_outcome(value, headers):
    assert_same(value, headers, refused=False)


@settings(max_examples=300, deadline=None)
@given(message=unit.any_message, fmt=unit.formats, data=unit.st.data())
def test_fuzzed_valid_payloads_get_the_same_outcome(message, fmt, data):
    payload, headers = serde.encode(message, fmt)
    raw = bytearray(payload)
    at = data.draw(unit.st.integers(0, max(len(raw) - 1, 0)))
    raw[at] ^= data.draw(unit.st.integers(1, 255))
    assert_same(bytes(raw), headers, refused=False)


def test_an_int_in_a_double_field_is_left_to_the_reference_which_widens_it():
    record = unit.EXAMPLES["trade"].to_record() | {"price": 64123}
    payload = json.dumps(record).encode()
    headers = serde.encode(unit.EXAMPLES["trade"], "json")[1]
    assert fast.fast_decoder("json", "trade", 1)(payload) is None
    assert serde.decode(payload, headers).price == 64123.0


def test_out_of_order_and_crossed_books_are_not_accepted_by_the_fast_path():
    book = unit.EXAMPLES["orderbook"]
    decode = fast.fast_decoder("msgpack", "orderbook", 1)
    for changes in (dict(bids=(Level(99.0, 1.0, 1), Level(99.5, 1.0, 1))), dict(asks=(Level(99.0, 1.0, 1),)),
                    dict(asks=(Level(101.0, 1.0, 1), Level(100.5, 1.0, 1))), dict(bids=())):
        assert decode(serde.encode(dataclasses.replace(book, **changes), "msgpack")[0]) is None


def test_header_memory_is_bounded_and_ignores_what_it_cannot_key():
    known = fast.KnownHeaders(serde.format_of.__globals__["_read_headers"], limit=4)
    _, headers = serde.encode(unit.EXAMPLES["trade"], "json")
    for i in range(10):
        assert known.get([*headers, ("other", str(i).encode())]) is not None
        assert len(known._seen) <= 4
    assert known.get([["content-type", b"application/json"]]) is None  # unhashable item
    assert known.get(iter(headers)) is None  # not a list: the reference path reads it
    assert known.get(headers[:2]) is None  # does not parse
