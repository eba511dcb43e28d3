"""The hot path of `decode`: a well-formed record checked inline and built directly.

Every consumer decodes every record. The reference path (`serde.decode_reference`) scans
the headers, walks the schema-driven shape check (a new dict per record and level, a path
string per field), builds the dataclasses through keyword arguments and walks the values
again in `validate`; for a 20-level order book that is most of a consumer's time.

This path accepts a record only where every check of the reference path passes: the same
fields, the exact types the shape check leaves (float for a double: an int there is left
to the reference path, which widens it), 64-bit integers, the same ranges and orders as the
models' validation. Anything else returns None and the caller runs the reference path,
which refuses the record with its reason (or, for the cases kept off this path, accepts
it). So the rules live in one place (schemas and models), and this path can only be
narrower: a unit test feeds every bad input of the tests through both and compares.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

from kafkalab.core.models import (MAX_FUTURE_US, MESSAGE_TYPES, MIN_TS_US, InvalidMessage, Level, OrderBook,
                                  Record, Trade, Venue, now_us)
from kafkalab.core.serde.codecs import DECODERS
from kafkalab.core.serde.schemas import INT64_MAX, INT64_MIN, load_schema

FastDecoder = Callable[[bytes], Optional[Record]]
_INF = math.inf
_SIDES = ("buy", "sell")


# A dict of n entries in which each of the n field names is found (a KeyError otherwise,
# which makes the caller fall back) has exactly those fields: no keys view to compare.
_TRADE_FIELDS, _BOOK_FIELDS = len(Trade.field_names()), len(OrderBook.field_names())

# Built through the slot descriptors: a frozen dataclass's __init__ goes through
# object.__setattr__ per field (half of a trade's fast decode, and an order book has 20-40
# levels). Neither class has a __post_init__, so the instance is the same.
_new = object.__new__


def _setters(cls: type, names: tuple[str, ...]) -> tuple:
    return tuple(cls.__dict__[name].__set__ for name in names)


_set_price, _set_size, _set_orders = _setters(Level, ("price", "size", "orders"))
(_set_symbol, _set_trade_id, _set_trade_price, _set_trade_size, _set_side, _set_event,
 _set_produced) = _setters(Trade, Trade.field_names())


def _symbol_ok(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 16 and value.isprintable()


def trade(data: Any) -> Trade | None:
    if type(data) is not dict or len(data) != _TRADE_FIELDS:
        return None
    trade_id, price, size, side = data["trade_id"], data["price"], data["size"], data["side"]
    event, produced, symbol = data["event_ts_us"], data["produced_ts_us"], data["symbol"]
    latest = now_us() + MAX_FUTURE_US
    if (type(trade_id) is int and 0 < trade_id <= INT64_MAX
            and type(price) is float and 0.0 < price < _INF  # NaN fails every comparison
            and type(size) is float and 0.0 < size < _INF
            and type(side) is str and side in _SIDES
            and type(event) is int and MIN_TS_US <= event <= latest
            and type(produced) is int and MIN_TS_US <= produced <= latest
            and _symbol_ok(symbol)):
        built = _new(Trade)
        _set_symbol(built, symbol)
        _set_trade_id(built, trade_id)
        _set_trade_price(built, price)
        _set_trade_size(built, size)
        _set_side(built, side)
        _set_event(built, event)
        _set_produced(built, produced)
        return built
    return None


def _levels(raw: Any, descending: bool) -> tuple[Level, ...] | None:
    """The levels of one side, each finite and positive, prices strictly in the side's order."""
    if type(raw) is not list or not raw:
        return None
    out = []
    previous = _INF if descending else 0.0
    for level in raw:
        if type(level) is not dict or len(level) != 3:
            return None
        price, size, orders = level["price"], level["size"], level["orders"]
        if not (type(price) is float and type(size) is float and 0.0 < size < _INF
                and type(orders) is int and 0 < orders <= INT64_MAX):
            return None
        if not (0.0 < price < previous if descending else previous < price < _INF):
            return None
        previous = price
        built = _new(Level)
        _set_price(built, price)
        _set_size(built, size)
        _set_orders(built, orders)
        out.append(built)
    return tuple(out)


def _venue(raw: Any) -> Venue | None:
    if type(raw) is not dict or len(raw) != 3:
        return None
    name, mic, timezone = raw["name"], raw["mic"], raw["timezone"]
    if type(name) is str and type(mic) is str and type(timezone) is str:
        return Venue(name, mic, timezone)
    return None


def orderbook(data: Any) -> OrderBook | None:
    if type(data) is not dict or len(data) != _BOOK_FIELDS:
        return None
    symbol, sequence, event, produced = data["symbol"], data["sequence"], data["event_ts_us"], data["produced_ts_us"]
    latest = now_us() + MAX_FUTURE_US
    if not (type(sequence) is int and 0 < sequence <= INT64_MAX
            and type(event) is int and MIN_TS_US <= event <= latest
            and type(produced) is int and MIN_TS_US <= produced <= latest
            and _symbol_ok(symbol)):
        return None
    venue = _venue(data["venue"])
    bids = _levels(data["bids"], descending=True)
    asks = _levels(data["asks"], descending=False)
    if venue is None or bids is None or asks is None or not bids[0].price < asks[0].price:
        return None
    return OrderBook(symbol, sequence, venue, bids, asks, event, produced)


_PYTHON_TYPES = {"long": int, "int": int, "double": float, "float": float, "string": str}


def flat(cls: type[Record]) -> Callable[[Any], Record | None]:
    """For the derived types (one row per window, not per event): exact field types from the
    schema, inline; the values through the model's own validate()."""
    fields = tuple((f["name"], _PYTHON_TYPES[f["type"]]) for f in load_schema(cls.TYPE)["fields"])

    def build(data: Any) -> Record | None:
        if type(data) is not dict or len(data) != len(fields):
            return None
        values = []
        for name, kind in fields:
            value = data[name]
            if type(value) is not kind or (kind is int and not INT64_MIN <= value <= INT64_MAX):
                return None
            values.append(value)
        record = cls(*values)
        try:
            record.validate()
        except InvalidMessage:
            return None
        return record

    return build


BUILDERS: dict[str, Callable[[Any], Record | None]] = {
    "trade": trade, "orderbook": orderbook, "candle": flat(MESSAGE_TYPES["candle"]),
    "book_features": flat(MESSAGE_TYPES["book_features"]),
}


@lru_cache(maxsize=None)
def fast_decoder(fmt: str, mtype: str, version: int) -> FastDecoder:
    """payload -> the record, or None when the reference path must decide."""
    decode_payload, build = DECODERS[fmt], BUILDERS[mtype]

    def decode(payload: bytes) -> Record | None:
        try:
            return build(decode_payload(payload, mtype, version))
        except Exception:  # foreign bytes: the reference path names what is wrong with them
            return None

    return decode


class KnownHeaders:
    """The fast decoder of header lists seen before: a producer sends the same three headers
    with every record of a (format, type), so each distinct list is parsed once.

    Only lists and tuples of hashable pairs that parse are remembered (anything else is the
    reference path's to judge); equal lists parse alike, so equality is a safe key. Bounded:
    a stream of ever new header lists empties the memory instead of growing it.
    """

    def __init__(self, parse: Callable[[Sequence], tuple[str, str, int]], limit: int = 64):
        self._parse = parse
        self._limit = limit
        self._seen: dict[tuple, FastDecoder] = {}

    def get(self, headers: Any) -> FastDecoder | None:
        if type(headers) is not list and type(headers) is not tuple:
            return None
        try:
            key = tuple(headers)
            return self._seen[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable item
            return None
        try:
            found = fast_decoder(*self._parse(headers))
        except InvalidMessage:
            return None
        if len(self._seen) >= self._limit:
            self._seen.clear()
        self._seen[key] = found
        return found
