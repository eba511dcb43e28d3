"""The application's message types, as plain typed records.

Times are integer microseconds since the Unix epoch (UTC): `event_ts_us` is when the
thing happened (a trade, a snapshot, the end of a window); `produced_ts_us` is when
our producer handed the record to Kafka. Sinks add the time they wrote the row, so
end-to-end latency comes straight from the CSVs.

`to_record()` gives the wire shape (dicts, lists, str, int, float) every serializer
encodes; `from_record()` builds the typed value back and validates it, raising
`InvalidMessage` with a one-line reason for anything a consumer must not process.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Mapping

MAX_FUTURE_US = 60 * 60 * 1_000_000  # an event more than an hour ahead is a broken clock
MIN_TS_US = 1_000_000_000 * 1_000_000  # 2001-09-09: earlier is not a real timestamp here


class InvalidMessage(ValueError):
    """A record that decodes but must not be processed; the message is the reason."""


def now_us() -> int:
    return time.time_ns() // 1_000


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise InvalidMessage(reason)


def _finite_positive(value: Any, name: str) -> None:
    # Checked before any message is formatted: validation runs for every record decoded.
    if type(value) in (int, float) and math.isfinite(value) and value > 0:
        return
    _require(isinstance(value, (int, float)) and not isinstance(value, bool), f"{name} is not a number")
    _require(math.isfinite(value), f"{name} is not finite ({value})")
    raise InvalidMessage(f"{name} must be positive ({value})")


def _timestamp(value: Any, name: str, now: int | None = None) -> None:
    if type(value) is int and MIN_TS_US <= value <= (now or now_us()) + MAX_FUTURE_US:
        return
    _require(isinstance(value, int) and not isinstance(value, bool), f"{name} is not an integer timestamp")
    _require(value >= MIN_TS_US, f"{name} is too far in the past ({value} us)")
    raise InvalidMessage(f"{name} is too far in the future ({value} us)")


def _symbol(value: Any) -> None:
    if not (isinstance(value, str) and 0 < len(value) <= 16):
        raise InvalidMessage(f"symbol is not a short string ({value!r})")
    # A key, a CSV field and a log word: a control character (a line break, NUL, ESC) breaks all three.
    if not value.isprintable():
        raise InvalidMessage(f"symbol contains a control character ({value!r})")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class Record:
    """Shared conversion for the message dataclasses."""

    TYPE: ClassVar[str]

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        # Cached per class: every decoded record asks (twice), and fields() is slow.
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
        return names

    @classmethod
    def _check_fields(cls, data: Mapping[str, Any]) -> None:
        _require(isinstance(data, Mapping), f"{cls.TYPE} is not a mapping")
        missing = [n for n in cls.field_names() if n not in data]
        _require(not missing, f"{cls.TYPE} lacks field(s) {', '.join(missing)}")

    def validate(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Trade(Record):
    TYPE: ClassVar[str] = "trade"
    symbol: str
    trade_id: int  # per-symbol sequence: a run counts up from its own base (core.market.run_trade_id_base)
    price: float
    size: float
    side: str  # "buy" (taker bought) or "sell"
    event_ts_us: int
    produced_ts_us: int

    def validate(self) -> None:
        _symbol(self.symbol)
        _require(isinstance(self.trade_id, int) and self.trade_id > 0, f"trade_id must be a positive integer ({self.trade_id!r})")
        _finite_positive(self.price, "price")
        _finite_positive(self.size, "size")
        _require(self.side in ("buy", "sell"), f"side must be 'buy' or 'sell' ({self.side!r})")
        _timestamp(self.event_ts_us, "event_ts_us")
        _timestamp(self.produced_ts_us, "produced_ts_us")

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Trade":
        cls._check_fields(data)
        trade = cls(**{n: data[n] for n in cls.field_names()})
        trade.validate()
        return trade


@dataclass(frozen=True, slots=True)
class Level:
    price: float
    size: float
    orders: int


@dataclass(frozen=True, slots=True)
class Venue:
    name: str
    mic: str  # ISO 10383 market identifier code
    timezone: str


def _check_level(level: Level, side: str) -> None:
    _finite_positive(level.price, side + " price")
    _finite_positive(level.size, side + " size")
    if not (type(level.orders) is int and level.orders > 0):
        raise InvalidMessage(f"{side} orders must be a positive integer ({level.orders!r})")


@dataclass(frozen=True, slots=True)
class OrderBook(Record):
    """A snapshot of the best price levels: bids descending, asks ascending."""

    TYPE: ClassVar[str] = "orderbook"
    symbol: str
    sequence: int  # per-symbol snapshot sequence, starts at 1
    venue: Venue
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_ts_us: int
    produced_ts_us: int

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["bids"] = [asdict(level) for level in self.bids]
        record["asks"] = [asdict(level) for level in self.asks]
        return record

    def validate(self) -> None:
        _symbol(self.symbol)
        _require(isinstance(self.sequence, int) and self.sequence > 0, f"sequence must be a positive integer ({self.sequence!r})")
        _require(bool(self.bids) and bool(self.asks), "order book has an empty side")
        for side, levels in (("bid", self.bids), ("ask", self.asks)):
            for level in levels:
                _check_level(level, side)
        _require(all(a.price > b.price for a, b in zip(self.bids, self.bids[1:])), "bids are not in descending price order")
        _require(all(a.price < b.price for a, b in zip(self.asks, self.asks[1:])), "asks are not in ascending price order")
        _require(self.bids[0].price < self.asks[0].price, "book is crossed (best bid >= best ask)")
        _timestamp(self.event_ts_us, "event_ts_us")
        _timestamp(self.produced_ts_us, "produced_ts_us")

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "OrderBook":
        cls._check_fields(data)
        try:
            venue = Venue(**data["venue"])
            bids = tuple(Level(**level) for level in data["bids"])
            asks = tuple(Level(**level) for level in data["asks"])
        except (TypeError, AttributeError) as exc:
            raise InvalidMessage(f"orderbook venue or levels are malformed ({exc})") from None
        book = cls(data["symbol"], data["sequence"], venue, bids, asks, data["event_ts_us"], data["produced_ts_us"])
        book.validate()
        return book


@dataclass(frozen=True, slots=True)
class Candle(Record):
    """One symbol's trades in the tumbling window [window_start_us, window_end_us)."""

    TYPE: ClassVar[str] = "candle"
    symbol: str
    window_start_us: int
    window_end_us: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trade_count: int
    event_ts_us: int  # = window_end_us: the candle describes the window that just closed
    produced_ts_us: int

    def validate(self) -> None:
        _symbol(self.symbol)
        _require(self.window_end_us > self.window_start_us, "window ends before it starts")
        for name in ("open", "high", "low", "close", "volume", "vwap"):
            _finite_positive(getattr(self, name), name)
        _require(self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close),
                 "open/close outside low..high")
        _require(isinstance(self.trade_count, int) and self.trade_count > 0, "trade_count must be a positive integer")
        _timestamp(self.event_ts_us, "event_ts_us")
        _timestamp(self.produced_ts_us, "produced_ts_us")

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Candle":
        cls._check_fields(data)
        candle = cls(**{n: data[n] for n in cls.field_names()})
        candle.validate()
        return candle


@dataclass(frozen=True, slots=True)
class BookFeatures(Record):
    """Order-book features of one symbol over the window [window_start_us, window_end_us)."""

    TYPE: ClassVar[str] = "book_features"
    symbol: str
    window_start_us: int
    window_end_us: int
    mid_price: float  # of the last snapshot in the window
    spread: float  # mean best-ask minus best-bid
    imbalance: float  # mean (bid depth - ask depth) / (bid depth + ask depth), in [-1, 1]
    snapshot_count: int
    last_sequence: int
    event_ts_us: int
    produced_ts_us: int

    def validate(self) -> None:
        _symbol(self.symbol)
        _require(self.window_end_us > self.window_start_us, "window ends before it starts")
        _finite_positive(self.mid_price, "mid_price")
        _finite_positive(self.spread, "spread")
        _require(isinstance(self.imbalance, (int, float)) and -1.0 <= self.imbalance <= 1.0, "imbalance outside [-1, 1]")
        _require(isinstance(self.snapshot_count, int) and self.snapshot_count > 0, "snapshot_count must be a positive integer")
        _timestamp(self.event_ts_us, "event_ts_us")
        _timestamp(self.produced_ts_us, "produced_ts_us")

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "BookFeatures":
        cls._check_fields(data)
        features = cls(**{n: data[n] for n in cls.field_names()})
        features.validate()
        return features


MESSAGE_TYPES: dict[str, type[Record]] = {t.TYPE: t for t in (Trade, OrderBook, Candle, BookFeatures)}
