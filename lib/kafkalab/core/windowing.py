"""Per-symbol 1-second tumbling event-time windows: candles and book features (pure).

Windows
-------
A record with event time t belongs to the window [t - t % size, that + size) of its
symbol. Windows are kept per *input partition* (a symbol is keyed to one partition, so
its records arrive in their produced order), in a `PartitionWindows`.

Closing rule (the watermark)
----------------------------
    watermark = max event time seen in the partition - allowed_lateness (default 500 ms)
              + max(0, processing time idle - idle_timeout)          (idle rule, 2 s)

A window closes - its result is emitted, once - when the watermark reaches its end
(watermark >= window end). The idle rule lets the last windows close when input stops:
after `idle_timeout` without any record in the partition, the watermark moves on with
processing time - but only while the consumer is at the partition's end (a consumer
that is merely behind, or replaying after a restart, is not idle), and the processor
applies it only when every partition of that input topic is idle, so one partition
stalled by a leader failover keeps its windows open for the retried records. `closed_through_us`
(the largest watermark used to close windows) only grows.

Late-record rule
----------------
A record whose window end is <= `closed_through_us` belongs to a window that is already
closed: it is *late*. It is not added to anything; `add` returns LATE and the processor
counts it and sends it to dead-letters with reason "late: ...". Within the lateness
allowance, out-of-order records are simply added to their (still open) window, and
results do not depend on arrival order: open/close are the first/last trade by
(event time, trade_id), the last book by (event time, sequence).

Replay (exactly-once restarts)
------------------------------
A processor commits, per partition, the offset of the oldest record still in an open
window plus (as offset metadata) `closed_through_us` and the next offset it would have
read (`replay_until`). After a restart the partition is rebuilt with both: records
before `replay_until` whose window is closed were handled before the crash (emitted or
dead-lettered) and are SKIPPED silently; the others rebuild the open windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Generic, Iterable, Protocol, TypeVar

from kafkalab.core.models import BookFeatures, Candle, OrderBook, Trade

WINDOW_US = 1_000_000
DEFAULT_ALLOWED_LATENESS_US = 500_000
DEFAULT_IDLE_TIMEOUT_US = 2_000_000
NEVER = -(2**62)  # "no window closed yet"
# Prices are decimals on a tick; in binary floats their sums and differences carry noise in the
# last bits (182.84 + 182.86 = 365.70000000000005). A mid or spread of one book is an exact decimal:
# 10 places is far below any tick and far above that noise for prices under 100,000. Means (VWAP,
# mean spread) are rounded to 12 places: the noise goes, the value moves by under 5e-13.
EXACT_DECIMALS = 10
MEAN_DECIMALS = 12


@dataclass(frozen=True)
class WindowSpec:
    size_us: int = WINDOW_US
    allowed_lateness_us: int = DEFAULT_ALLOWED_LATENESS_US
    idle_timeout_us: int = DEFAULT_IDLE_TIMEOUT_US

    def __post_init__(self) -> None:
        if self.size_us <= 0 or self.allowed_lateness_us < 0 or self.idle_timeout_us < 0:
            raise ValueError(f"window size must be positive and lateness/idle timeout not negative ({self})")

    def start_of(self, event_ts_us: int) -> int:
        return event_ts_us - event_ts_us % self.size_us


# ---- what a window computes ---------------------------------------------------------

class CandleBuilder:
    """OHLC, volume, VWAP and count of one symbol's trades in one window."""

    __slots__ = ("first_key", "open", "last_key", "close", "high", "low", "volume", "notional", "count")

    def __init__(self) -> None:
        self.first_key = self.last_key = None
        self.open = self.close = self.high = self.low = 0.0
        self.volume = self.notional = 0.0
        self.count = 0

    def add(self, trade: Trade) -> None:
        key = (trade.event_ts_us, trade.trade_id)
        price = trade.price
        if self.count == 0:
            self.first_key = self.last_key = key
            self.open = self.close = self.high = self.low = price
        else:
            if key < self.first_key:
                self.first_key, self.open = key, price
            if key >= self.last_key:
                self.last_key, self.close = key, price
            self.high = max(self.high, price)
            self.low = min(self.low, price)
        self.volume += trade.size
        self.notional += price * trade.size
        self.count += 1

    def result(self, symbol: str, start_us: int, end_us: int, produced_ts_us: int) -> Candle:
        vwap = self.notional / self.volume
        # VWAP is a weighted mean of prices in [low, high]; clamp float rounding at the edges.
        vwap = min(max(round(vwap, MEAN_DECIMALS), self.low), self.high)
        return Candle(symbol, start_us, end_us, self.open, self.high, self.low, self.close,
                      self.volume, vwap, self.count, end_us, produced_ts_us)


def book_mid(book: OrderBook) -> float:
    return round((book.bids[0].price + book.asks[0].price) / 2, EXACT_DECIMALS)


def book_spread(book: OrderBook) -> float:
    return round(book.asks[0].price - book.bids[0].price, EXACT_DECIMALS)


def book_imbalance(book: OrderBook) -> float:
    """(bid depth - ask depth) / (bid depth + ask depth) over all levels, in [-1, 1]."""
    bid = sum(level.size for level in book.bids)
    ask = sum(level.size for level in book.asks)
    return (bid - ask) / (bid + ask)


class BookFeaturesBuilder:
    """Mid of the last snapshot, mean spread, mean depth imbalance of one symbol's window."""

    __slots__ = ("last_key", "last_mid", "spread_sum", "imbalance_sum", "count")

    def __init__(self) -> None:
        self.last_key = None
        self.last_mid = 0.0
        self.spread_sum = self.imbalance_sum = 0.0
        self.count = 0

    def add(self, book: OrderBook) -> None:
        key = (book.event_ts_us, book.sequence)
        if self.last_key is None or key >= self.last_key:
            self.last_key, self.last_mid = key, book_mid(book)
        self.spread_sum += book_spread(book)
        self.imbalance_sum += book_imbalance(book)
        self.count += 1

    def result(self, symbol: str, start_us: int, end_us: int, produced_ts_us: int) -> BookFeatures:
        imbalance = min(1.0, max(-1.0, self.imbalance_sum / self.count))
        spread = round(self.spread_sum / self.count, MEAN_DECIMALS)
        return BookFeatures(symbol, start_us, end_us, self.last_mid, spread, imbalance, self.count, self.last_key[1],
                            end_us, produced_ts_us)


class Builder(Protocol):
    count: int

    def add(self, record) -> None: ...

    def result(self, symbol: str, start_us: int, end_us: int, produced_ts_us: int): ...


B = TypeVar("B", bound=Builder)


# ---- windows of one input partition ---------------------------------------------------

class Outcome(Enum):
    ADDED = "added"
    LATE = "late"  # the window is closed: count it, dead-letter it
    REPLAYED = "replayed"  # handled before a restart: skip silently
    DUPLICATE = "duplicate"  # the same record is in its window already (written twice upstream): skip it


@dataclass
class Window(Generic[B]):
    symbol: str
    start_us: int
    end_us: int
    builder: B
    first_offset: int  # the oldest input offset in this window (where a replay must start)
    identities: set = field(default_factory=set)  # of the records added, when the caller names them

    def result(self, produced_ts_us: int):
        return self.builder.result(self.symbol, self.start_us, self.end_us, produced_ts_us)


@dataclass
class PartitionWindows(Generic[B]):
    """Open windows of one input partition, its watermark and its late-record rule.

    The event-time part of the watermark advances record by record (inside `add`), so
    which records are late depends only on the partition's record order, never on how
    records were batched; only the idle rule (`close_idle`) depends on processing time.
    Closed windows wait in `ready` until the caller takes them (`take_ready`).
    """

    make_builder: Callable[[], B]
    spec: WindowSpec = field(default_factory=WindowSpec)
    closed_through_us: int = NEVER  # restored from the committed offset's metadata
    replay_until: int = -1  # offsets below this were processed before a restart
    restored_offset: int = -1  # the committed offset a restart resumed from
    max_event_us: int = NEVER
    last_arrival_us: int | None = None  # processing time of the last record
    next_offset: int = -1  # after the last offset seen
    late_count: int = 0
    windows: dict[tuple[str, int], Window[B]] = field(default_factory=dict)
    ready: list[Window[B]] = field(default_factory=list)

    def add(self, symbol: str, event_ts_us: int, offset: int, record, now_us: int, identity=None) -> Outcome:
        """Put a record in its window (LATE if that window is closed), then close what is due.

        `identity` (optional) names the record: a second record with the same identity in the same
        window is a DUPLICATE and not added (an idempotent producer can still write a batch twice
        around a leader change, librdkafka#4953; the copy has a new offset but the same content)."""
        self.seen(offset, now_us)
        start = self.spec.start_of(event_ts_us)
        end = start + self.spec.size_us
        if end <= self.closed_through_us:
            if offset < self.replay_until:
                return Outcome.REPLAYED
            self.late_count += 1
            return Outcome.LATE
        window = self.windows.get((symbol, start))
        if window is None:
            window = self.windows[(symbol, start)] = Window(symbol, start, end, self.make_builder(), offset)
        if identity is not None:
            if identity in window.identities:
                return Outcome.DUPLICATE
            window.identities.add(identity)
        window.builder.add(record)
        window.first_offset = min(window.first_offset, offset)
        if event_ts_us > self.max_event_us:
            self.max_event_us = event_ts_us
            self._close_through(event_ts_us - self.spec.allowed_lateness_us)
        return Outcome.ADDED

    def seen(self, offset: int, now_us: int) -> None:
        """Note a consumed offset (also for records that were not added, e.g. invalid ones)."""
        self.next_offset = max(self.next_offset, offset + 1)
        self.last_arrival_us = now_us

    def watermark(self, now_us: int) -> int:
        if self.max_event_us == NEVER:
            return self.closed_through_us
        mark = self.max_event_us - self.spec.allowed_lateness_us
        if self.last_arrival_us is not None:
            mark += max(0, now_us - self.last_arrival_us - self.spec.idle_timeout_us)
        return max(mark, self.closed_through_us)

    def close_idle(self, now_us: int, caught_up: bool = True) -> None:
        """The processing-time rule: a partition idle for idle_timeout lets time move on.

        Only when input has really stopped: not while records are known to be waiting
        (`caught_up` False: the consumer is behind the partition's end) and not while
        replaying after a restart (the replayed records are certain to come)."""
        if caught_up and self.next_offset >= self.replay_until:
            self._close_through(self.watermark(now_us))

    def _close_through(self, mark: int) -> None:
        if mark <= self.closed_through_us:
            return
        self.closed_through_us = mark
        due = [w for w in self.windows.values() if w.end_us <= mark]
        for window in due:
            del self.windows[(window.symbol, window.start_us)]
        self.ready.extend(due)

    def take_ready(self) -> list[Window[B]]:
        """The closed windows not taken yet, by (end, symbol)."""
        ready, self.ready = self.ready, []
        return sorted(ready, key=lambda w: (w.end_us, w.symbol))

    def resume_offset(self) -> int:
        """Where a restart must read from: the oldest record of an open (or not yet
        emitted) window, else the next offset. While a replay is not finished, the records
        not re-read yet may belong to open windows: keep the restored offset until then."""
        pending = [*self.windows.values(), *self.ready]
        resume = min(w.first_offset for w in pending) if pending else self.next_offset
        if self.next_offset < self.replay_until and self.restored_offset >= 0:
            resume = min(resume, self.restored_offset)
        return resume


# ---- the same computation over a finished set of records (tests, checks) -------------

def candles_of(trades: Iterable[Trade], size_us: int = WINDOW_US, produced_ts_us: int = 0) -> list[Candle]:
    """Every window's candle from a complete set of trades, in (symbol, start) order."""
    builders: dict[tuple[str, int], CandleBuilder] = {}
    for trade in trades:
        start = trade.event_ts_us - trade.event_ts_us % size_us
        builders.setdefault((trade.symbol, start), CandleBuilder()).add(trade)
    return [b.result(sym, start, start + size_us, produced_ts_us or start + size_us)
            for (sym, start), b in sorted(builders.items())]


def book_features_of(books: Iterable[OrderBook], size_us: int = WINDOW_US,
                     produced_ts_us: int = 0) -> list[BookFeatures]:
    builders: dict[tuple[str, int], BookFeaturesBuilder] = {}
    for book in books:
        start = book.event_ts_us - book.event_ts_us % size_us
        builders.setdefault((book.symbol, start), BookFeaturesBuilder()).add(book)
    return [b.result(sym, start, start + size_us, produced_ts_us or start + size_us)
            for (sym, start), b in sorted(builders.items())]

