"""Simulated markets and the two generator components (trades, order books).

The simulation (pure, seeded, no Kafka)
---------------------------------------
Each symbol has a *fair price path*: a geometric random walk on a 250 ms grid over the
UTC day, with bursts (stretches of a few seconds where volatility is several times
higher and trading is busier). The path of a day is computed at once with numpy from
(seed, symbol, day), so it is a pure function of time: two processes with the same seed
- the trade generator and the order-book generator run as separate notebooks - see the
same fair price at the same moment, which keeps every book consistent with that
symbol's trades. Each UTC day opens at a seeded price near the symbol's reference price
(an overnight gap).

- Trades: the symbol is drawn by activity (busier in bursts); the price is the fair
  price plus half a spread on the taker's side plus a little tick noise, on the
  symbol's tick; sizes are log-normal lots (larger in bursts); trade_id counts per
  symbol from 1.
- Order books: 10-20 levels per side around the fair price (best bid below, best ask
  above, gaps of 1-2 ticks, sizes growing with depth), the venue's metadata, and a
  per-symbol sequence from 1.

Reproducible: the same seed and the same event times give the same records (only the
wall-clock times differ between runs).

The components
--------------
`TradeGenerator` (default 10 trades/s in total) and `OrderBookGenerator` (default 4
snapshots/s) produce keyed by symbol through `clients.producer` (acks=all, idempotent).
Pacing follows an absolute schedule (the n-th record is due at start + n / rate), so
sleeping and producing take nothing from the rate; rate 0 or "max" produces as fast as
the producer can. `acked` counts delivery reports without error; the summary reports
the rate reached (acked records per second). With `acked_csv` the trade generator
appends one row per acknowledged trade (ACKED_COLUMNS) - what the producer saw
acknowledged, for the reliability and end-to-end checks.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
import time
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from confluent_kafka import KafkaError, Message, Producer

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.runtime.loop import Component
from kafkalab.config import LabConfig, parse_client_settings
from kafkalab.errors import ConfigError, LabError
from kafkalab.core.models import Level, OrderBook, Trade, Venue, now_us
from kafkalab.transports.kafka.topics import ORDERBOOKS, TRADES

GRID_S = 0.25  # fair-price grid step
DAY_S = 86_400
GRID_STEPS = int(DAY_S / GRID_S)
BURST_START_PROB = 1 / 240  # per grid step: a burst starts about once a minute per symbol
BURST_MEAN_STEPS = 12  # about 3 s
BURST_VOLATILITY = 5.0
BURST_ACTIVITY = 4.0
DAY_OPEN_SPREAD = 0.02  # relative std-dev of a day's opening price around the reference
MIN_LEVELS, MAX_LEVELS = 10, 20

NASDAQ = Venue("Nasdaq", "XNAS", "America/New_York")
NYSE = Venue("New York Stock Exchange", "XNYS", "America/New_York")


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    venue: Venue
    reference_price: float
    volatility: float  # relative std-dev of the fair price per sqrt(second), outside bursts
    activity: float  # relative share of the trade flow
    tick: float = 0.01
    lot: float = 1.0
    mean_lots: float = 100.0
    spread_ticks: int = 2


# Chosen so the keys spread evenly: confluent-kafka's default partitioner (CRC32 of the key)
# puts these six on six different partitions of a 6-partition topic, two per partition of a
# 3-partition one (a test checks it). Six arbitrary tickers often share partitions.
SYMBOLS: dict[str, SymbolSpec] = {s.symbol: s for s in (
    SymbolSpec("AAPL", NASDAQ, 190.0, 2.0e-4, 3.0, spread_ticks=1),
    SymbolSpec("NVDA", NASDAQ, 120.0, 6.0e-4, 3.0, spread_ticks=1),
    SymbolSpec("GOOG", NASDAQ, 170.0, 3.0e-4, 2.0, spread_ticks=1),
    SymbolSpec("TSLA", NASDAQ, 250.0, 9.0e-4, 2.0, spread_ticks=3),
    SymbolSpec("KO", NYSE, 62.0, 0.8e-4, 1.0, spread_ticks=1),
    SymbolSpec("GS", NYSE, 480.0, 1.5e-4, 1.0, spread_ticks=3),
)}
DEFAULT_SYMBOLS: tuple[str, ...] = tuple(SYMBOLS)


def parse_symbols(symbols: str | Iterable[str] | None) -> tuple[str, ...]:
    """'AAPL,MSFT' or a list -> validated tuple; empty -> all default symbols."""
    if symbols is None or symbols == "":
        return DEFAULT_SYMBOLS
    names = [s.strip().upper() for s in (symbols.split(",") if isinstance(symbols, str) else symbols)]
    names = [s for s in names if s]
    unknown = [s for s in names if s not in SYMBOLS]
    if unknown or not names:
        raise ConfigError(f"unknown symbol(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SYMBOLS)}")
    return tuple(dict.fromkeys(names))


def parse_rate(rate_hz: float | int | str | None, default: float) -> float:
    """Records per second; 0 or 'max' = as fast as possible (returned as 0.0)."""
    if rate_hz is None or rate_hz == "":
        return default
    if isinstance(rate_hz, str) and rate_hz.strip().lower() in ("max", "0"):
        return 0.0
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"rate_hz must be a number of records per second or 'max' (got {rate_hz!r})") from None
    if rate == 0:
        return 0.0
    if not (1.0 <= rate <= 1_000_000) or math.isnan(rate):
        raise ConfigError(f"rate_hz must be from 1 to 1000000, or 0/'max' for as fast as possible (got {rate_hz!r})")
    return rate


# Below this rate a producer never fills a batch in linger.ms=5 (the default), it only
# waits: paced generators send at once (linger.ms=0). Measured (`bench pipeline`, 10
# trades/s): p50 3.3 ms / p99 13.7 ms with 0 against 9.9 / 50.9 ms with 5. Faster, the
# batching pays: at full speed linger.ms=0 halved the rate (`bench generator`, msgpack:
# 28,940 vs 54,258 trades/s median).
SEND_AT_ONCE_BELOW_HZ = 100.0


def rate_producer_defaults(rate_hz: float) -> dict:
    """Producer settings that suit a generator's rate (producer_settings still win)."""
    return {"linger.ms": 0} if 0 < rate_hz <= SEND_AT_ONCE_BELOW_HZ else {}


# ---- the fair price path ----------------------------------------------------------

@dataclass(frozen=True)
class DayPath:
    log_price: np.ndarray  # GRID_STEPS + 1 points
    burst: np.ndarray  # bool per grid step


def _seed_sequence(seed: int, symbol: str, day: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed & 0xFFFFFFFF, zlib.crc32(symbol.encode()), day])


@lru_cache(maxsize=32)
def day_path(seed: int, symbol: str, day: int) -> DayPath:
    """The fair log-price path of one symbol over one UTC day (pure, cached)."""
    spec = SYMBOLS[symbol]
    rng = np.random.default_rng(_seed_sequence(seed, symbol, day))
    burst = np.zeros(GRID_STEPS, dtype=bool)
    for start in np.flatnonzero(rng.random(GRID_STEPS) < BURST_START_PROB):
        burst[start:start + rng.geometric(1 / BURST_MEAN_STEPS)] = True
    scale = np.where(burst, spec.volatility * BURST_VOLATILITY, spec.volatility) * math.sqrt(GRID_S)
    steps = rng.standard_normal(GRID_STEPS) * scale
    opening = math.log(spec.reference_price) + rng.normal(0.0, DAY_OPEN_SPREAD)
    log_price = np.concatenate(([opening], opening + np.cumsum(steps)))
    return DayPath(log_price, burst)


def _locate(ts_us: int) -> tuple[int, int, float]:
    """(day, grid index, fraction of the step) of a time in microseconds."""
    day, in_day_us = divmod(ts_us, DAY_S * 1_000_000)
    position = in_day_us / (GRID_S * 1_000_000)
    index = min(int(position), GRID_STEPS - 1)
    return day, index, position - index


def fair_price(seed: int, symbol: str, ts_us: int) -> float:
    day, i, frac = _locate(ts_us)
    path = day_path(seed, symbol, day).log_price
    return math.exp(path[i] + (path[i + 1] - path[i]) * frac)


def in_burst(seed: int, symbol: str, ts_us: int) -> bool:
    day, i, _ = _locate(ts_us)
    return bool(day_path(seed, symbol, day).burst[i])


def _per_unit(step: float) -> int:
    """Steps per unit (tick 0.01 -> 100); ticks and lots must divide one unit."""
    count = round(1 / step)
    if abs(count * step - 1) > 1e-9:
        raise ValueError(f"tick/lot {step} does not divide 1")
    return count


def _decimals(step: float) -> int:
    return max(0, -int(math.floor(math.log10(step) + 1e-9)))


class MarketSimulator:
    """Seeded trades and order books for a set of symbols (pure: time is an argument)."""

    def __init__(self, symbols: Sequence[str] = DEFAULT_SYMBOLS, seed: int = 7) -> None:
        self.symbols = parse_symbols(symbols)
        self.specs = [SYMBOLS[s] for s in self.symbols]
        self.seed = int(seed)
        # Per-record choices use Python's RNG (fast for scalars), seeded separately from the paths.
        self.rng = random.Random(self.seed)
        self.trade_ids = {s: 0 for s in self.symbols}
        self.sequences = {s: 0 for s in self.symbols}
        self._next_book = 0
        self._step_start_us = self._step_end_us = 0  # the cached grid step [start, end)
        self._total_weight = 0.0
        self._last_index = len(self.specs) - 1
        self._units = [(_per_unit(s.tick), _per_unit(s.lot)) for s in self.specs]
        self._cum_weights: list[float] = []
        self._burst: list[bool] = []
        self._log_points: list[tuple[float, float]] = []

    def warm_up(self, ts_us: int) -> None:
        """Compute the day's price paths now (about 10 ms per symbol), not in the first record."""
        day = _locate(ts_us)[0]
        for symbol in self.symbols:
            day_path(self.seed, symbol, day)

    def _refresh_step(self, ts_us: int) -> None:
        """Per-symbol weights and path points change only at grid steps: cache them per step."""
        day, i, _ = _locate(ts_us)
        self._step_start_us = day * DAY_S * 1_000_000 + int(i * GRID_S * 1_000_000)
        self._step_end_us = self._step_start_us + int(GRID_S * 1_000_000)
        paths = [day_path(self.seed, s.symbol, day) for s in self.specs]
        self._burst = [bool(p.burst[i]) for p in paths]
        self._log_points = [(float(p.log_price[i]), float(p.log_price[i + 1])) for p in paths]
        total, cum = 0.0, []
        for spec, burst in zip(self.specs, self._burst):
            total += spec.activity * (BURST_ACTIVITY if burst else 1.0)
            cum.append(total)
        self._cum_weights, self._total_weight = cum, total

    def next_trade(self, event_ts_us: int, produced_ts_us: int = 0) -> Trade:
        # The hot path of a generator at full speed: keep it to plain arithmetic.
        if not self._step_start_us <= event_ts_us < self._step_end_us:
            self._refresh_step(event_ts_us)
        frac = (event_ts_us - self._step_start_us) / (GRID_S * 1_000_000)
        rng = self.rng
        k = min(bisect.bisect_right(self._cum_weights, rng.random() * self._total_weight), self._last_index)
        spec, burst = self.specs[k], self._burst[k]
        ticks_per_unit, lots_per_unit = self._units[k]
        low, high = self._log_points[k]
        fair_ticks = math.exp(low + (high - low) * frac) * ticks_per_unit
        buy = rng.random() < 0.5
        # The taker pays half a spread (wider in bursts), sometimes a tick more.
        offset = spec.spread_ticks * (1.0 if burst else 0.5) + (rng.random() < 0.5)
        price_ticks = max(1, round(fair_ticks + offset if buy else fair_ticks - offset))
        lots = max(1, round(spec.mean_lots * math.exp(rng.gauss(-0.3, 0.8)) * (2 if burst else 1)))
        symbol = spec.symbol
        trade_id = self.trade_ids[symbol] = self.trade_ids[symbol] + 1
        # ticks / (ticks per unit) is the float nearest the decimal price (169.79, not 169.79000000000002).
        return Trade(symbol, trade_id, price_ticks / ticks_per_unit, lots / lots_per_unit, "buy" if buy else "sell",
                     event_ts_us, produced_ts_us or event_ts_us)

    def book(self, symbol: str, event_ts_us: int, produced_ts_us: int = 0) -> OrderBook:
        """A snapshot of `symbol` at `event_ts_us`, around the same fair price its trades use."""
        spec, rng = SYMBOLS[symbol], self.rng
        burst = in_burst(self.seed, symbol, event_ts_us)
        fair_ticks = fair_price(self.seed, symbol, event_ts_us) / spec.tick
        spread = spec.spread_ticks * (2 if burst else 1) + rng.randint(0, 1)
        best_bid = max(1, math.floor(fair_ticks - spread / 2))
        best_ask = best_bid + max(1, spread)
        bids = self._levels(spec, best_bid, -1, rng.randint(MIN_LEVELS, MAX_LEVELS))
        asks = self._levels(spec, best_ask, +1, rng.randint(MIN_LEVELS, MAX_LEVELS))
        self.sequences[symbol] = self.sequences.get(symbol, 0) + 1
        return OrderBook(symbol, self.sequences[symbol], spec.venue, bids, asks,
                         event_ts_us, produced_ts_us or event_ts_us)

    def _levels(self, spec: SymbolSpec, best_ticks: int, direction: int, count: int) -> tuple[Level, ...]:
        rng, levels, ticks = self.rng, [], best_ticks
        price_dec, lot_dec = _decimals(spec.tick), _decimals(spec.lot)
        for depth in range(count):
            if ticks < 1:  # bids cannot go below one tick
                break
            lots = max(1, round(spec.mean_lots * (1 + 0.25 * depth) * math.exp(rng.gauss(0, 0.6))))
            orders = max(1, min(lots, round(lots / spec.mean_lots * 3) + rng.randint(0, 3)))
            levels.append(Level(round(ticks * spec.tick, price_dec), float(round(lots * spec.lot, lot_dec)), orders))
            ticks += direction * (1 if rng.random() < 0.7 else 2)
        return tuple(levels)

    def next_book(self, event_ts_us: int, produced_ts_us: int = 0) -> OrderBook:
        """Snapshots go round-robin over the symbols."""
        symbol = self.symbols[self._next_book % len(self.symbols)]
        self._next_book += 1
        return self.book(symbol, event_ts_us, produced_ts_us)


# ---- the Kafka components -----------------------------------------------------------------

ACKED_COLUMNS = ("symbol", "trade_id", "kafka_partition", "kafka_offset", "event_ts_us", "produced_ts_us")
MAX_BATCH = 1000  # records per step at most, so stop requests and polls stay prompt
MAX_LAG_S = 1.0  # further behind schedule than this (e.g. brokers down): re-anchor, no burst
ERROR_REPORT_EVERY_S = 5.0
STALL_REPORT_S = 5.0


class GeneratorError(LabError):
    """The producer hit an error it cannot recover from."""


class _Generator(Component):
    counter_names = ("produced", "acked", "failed", "rate_hz")
    message_counter = "produced"
    default_rate_hz = 10.0
    default_topic = TRADES

    def __init__(self, config: LabConfig, *, rate_hz: float | str | None = None, symbols: str | Sequence[str] | None = None,
                 seed: int = 7, topic: str = "", delivery_timeout_s: float = 0,
                 producer_overrides: Mapping[str, object] | str | None = None) -> None:
        super().__init__()
        self.config = config
        self.rate_hz = parse_rate(rate_hz, self.default_rate_hz)
        self.topic = topic or self.default_topic
        self.serializer = serde.check_format(config.serializer_for(self.topic))
        self.sim = MarketSimulator(parse_symbols(symbols), seed)
        self.producer_overrides = parse_client_settings(producer_overrides)
        if delivery_timeout_s:  # how long the producer retries a record before reporting it failed
            self.producer_overrides["message.timeout.ms"] = int(float(delivery_timeout_s) * 1000)
        self.producer: Producer | None = None
        self.last_error = ""
        self._last_error_print = 0.0
        self._scheduled = 0
        self._anchor = 0.0
        self._rate_window = (0.0, 0)
        self._acked = self._failed = 0
        self._errors_only = False
        self._last_acked, self._ack_progress_at = 0, time.monotonic()
        self._keys = {symbol: symbol.encode() for symbol in self.sim.symbols}

    records_acks = False  # True: the delivery callback gets the record (on_acked)

    # -- records --------------------------------------------------------------
    def make_record(self, event_ts_us: int):  # pragma: no cover - overridden
        raise NotImplementedError

    def on_acked(self, record, msg: Message) -> None:
        """Hook for subclasses that record acknowledgements."""

    # -- lifecycle ------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        clients.require_reachable(self.config.bootstrap_servers)
        clients.require_topics(self.config.bootstrap_servers, [self.topic])
        self.producer = None
        self.sim.warm_up(now_us())
        settings = {"error_cb": self._on_client_error, **rate_producer_defaults(self.rate_hz),
                    **self.producer_overrides}
        self._acked = self._failed = 0
        # Tuning option: delivery reports for failures only (no Python callback per record).
        # Then acknowledged = produced - failed - still in the producer's queue (exact after flush).
        self._errors_only = str(settings.get("delivery.report.only.error", "")).lower() in ("true", "1")
        if self._errors_only and self.records_acks:
            raise ConfigError("acked_csv needs a delivery report per record; "
                              "do not combine it with delivery.report.only.error")
        stack.callback(self._publish)  # after the producer's final flush (the stack unwinds in reverse)
        self.producer = stack.enter_context(clients.producer(self.config.bootstrap_servers, **settings))
        self._anchor, self._scheduled = time.monotonic(), 0
        self._rate_window = (self._anchor, 0)

    def step(self) -> None:
        due = self._due_now()
        if due == 0:
            self.producer.poll(0)
            wait = self._anchor + self._scheduled / self.rate_hz - time.monotonic()
            self.wait(min(max(wait, 0.0), 0.1))
            self._publish()
            return
        left = self.messages_left()
        if left is not None:
            due = min(due, left)
        produced = self._produce_batch(due)
        self._scheduled += produced
        self.counters.add("produced", produced)
        self.producer.poll(0)
        self._publish()

    def _due_now(self) -> int:
        if not self.rate_hz:
            return MAX_BATCH
        now = time.monotonic()
        if now - (self._anchor + self._scheduled / self.rate_hz) > MAX_LAG_S:
            # Far behind (the queue was full, brokers were down): restart the schedule from now.
            self._anchor, self._scheduled = now, 0
        due = int((now - self._anchor) * self.rate_hz) + 1 - self._scheduled
        return max(0, min(due, MAX_BATCH))

    def _produce_batch(self, count: int) -> int:
        """Produce `count` records; fewer if a stop came while the local queue was full."""
        # The hot path of "as fast as it can go": local names, no per-record lock.
        produce, poll, make, encode = self.producer.produce, self.producer.poll, self.make_record, serde.encode
        topic, fmt, keys = self.topic, self.serializer, self._keys
        per_record = self.records_acks
        callback = self._on_delivery
        for done in range(count):
            record = make(now_us())
            payload, headers = encode(record, fmt)
            if per_record:
                callback = (lambda err, msg, rec=record: self._on_delivery(err, msg, rec))
            while True:
                try:
                    produce(topic, value=payload, key=keys[record.symbol], headers=headers, on_delivery=callback)
                    break
                except BufferError:  # local queue full (brokers slow or down): serve delivery reports, retry
                    poll(0.1)
                    if self.stop_requested:
                        return done  # never handed to Kafka, so nothing acknowledged is lost
        return count

    def _on_delivery(self, err: KafkaError | None, msg: Message, record=None) -> None:
        # Runs inside poll()/flush() on the loop's thread: plain ints, published by _publish().
        if err is None:
            self._acked += 1
            if record is not None:
                self.on_acked(record, msg)
            return
        self._failed += 1
        symbol = msg.key().decode(errors="replace") if msg.key() else "?"
        self._report_error(f"record for {symbol} not delivered: {err.name()}: {err.str()}")
        if err.fatal():
            raise GeneratorError(f"the producer failed for good ({err.str()}); restart the generator")

    def _publish(self) -> None:
        """Copy the delivery counts to the shared counters; refresh the live rate every second."""
        if self.producer is None:
            return
        if self._errors_only:
            self._acked = self.counters["produced"] - self._failed - len(self.producer)
        self.counters.set("acked", self._acked)
        self.counters.set("failed", self._failed)
        start, acked_then = self._rate_window
        now = time.monotonic()
        if now - start >= 1.0:
            self.counters.set("rate_hz", int((self._acked - acked_then) / (now - start)))
            self._rate_window = (now, self._acked)
            self._check_stalled(now)

    def _check_stalled(self, now: float) -> None:
        """Say so when records wait for acknowledgements (e.g. too few in-sync replicas):
        the producer keeps retrying them until delivery_timeout_s, nothing is dropped silently."""
        in_flight = len(self.producer) if self.producer is not None else 0
        if self._acked != self._last_acked or not in_flight:
            self._last_acked, self._ack_progress_at = self._acked, now
        elif now - self._ack_progress_at >= STALL_REPORT_S:
            # librdkafka retries NOT_ENOUGH_REPLICAS silently: ask the cluster, when the line will be printed
            why = (clients.not_enough_replicas(self.config.bootstrap_servers, self.topic)
                   if now - self._last_error_print >= ERROR_REPORT_EVERY_S else None)
            if why:
                self._report_error(f"{why}; no acknowledgement for {now - self._ack_progress_at:.0f} s, "
                                   f"{in_flight} records waiting, still retrying", remember=False)
                return
            self._report_error(f"no acknowledgement for {now - self._ack_progress_at:.0f} s, {in_flight} records "
                               f"waiting (brokers down or too few in-sync replicas?); still retrying"
                               + (f"; last error: {self.last_error}" if self.last_error else ""), remember=False)

    def _on_client_error(self, err: KafkaError) -> None:
        # Transient broker trouble: the producer retries by itself; say so, at most every few seconds.
        self._report_error(f"producer: {err.name()}: {err.str()}")

    def _report_error(self, text: str, remember: bool = True) -> None:
        if remember:
            self.last_error = text
        now = time.monotonic()
        if now - self._last_error_print >= ERROR_REPORT_EVERY_S:
            self._last_error_print = now
            print(f"{self.name}: {text}", flush=True)

    def finish(self) -> None:
        left = self.producer.flush(clients.FLUSH_TIMEOUT_S)
        self._publish()
        if left:
            raise GeneratorError(f"{left} records were not acknowledged within {clients.FLUSH_TIMEOUT_S:g} s; "
                                 f"is the cluster up? (`kafkalab cluster status`)")

    @property
    def reached_rate_hz(self) -> float:
        """Acknowledged records per second over the whole run."""
        return self.counters["acked"] / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        target = f"{self.rate_hz:g}/s" if self.rate_hz else "max"
        return (f"{self.name}: {self.counters!r}; target {target}, reached {self.reached_rate_hz:,.1f} records/s"
                + (f"; last error: {self.last_error}" if self.last_error else ""))


class TradeGenerator(_Generator):
    name = "trade-generator"
    default_rate_hz = 10.0
    default_topic = TRADES

    def __init__(self, config: LabConfig, *, acked_csv: str | Path = "", **kwargs) -> None:
        super().__init__(config, **kwargs)
        # A relative path lands under results/data, next to the sinks' CSVs.
        self.acked_csv = config.data_dir / Path(acked_csv) if acked_csv else None
        self._acked_writer = None
        self._acked_file = None

    def make_record(self, event_ts_us: int) -> Trade:
        # produced_ts_us: the moment we hand the record to the producer (encode is next).
        return self.sim.next_trade(event_ts_us, now_us())

    def setup(self, stack: ExitStack) -> None:
        if self.acked_csv is not None:
            self._acked_file = stack.enter_context(_open_acked_csv(self.acked_csv))
            self._acked_writer = csv.writer(self._acked_file)
            # Registered after the file: on exit the producer is flushed first, so the last acks get written.
        super().setup(stack)

    @property
    def records_acks(self) -> bool:
        return self.acked_csv is not None

    def on_acked(self, trade: Trade, msg: Message) -> None:
        if self._acked_writer is not None:
            self._acked_writer.writerow((trade.symbol, trade.trade_id, msg.partition(), msg.offset(),
                                         trade.event_ts_us, trade.produced_ts_us))

    def step(self) -> None:
        super().step()
        if self._acked_file is not None:
            self._acked_file.flush()


def _open_acked_csv(path: Path):
    """Append mode; header only for a new file. Rows are (partition, offset)-unique per topic."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        handle = path.open("a", newline="", buffering=1 << 16)
    except OSError as exc:
        raise ConfigError(f"cannot write the acknowledged-trades file {path} ({exc.strerror}); "
                          f"choose a writable path for acked_csv") from None
    if new:
        csv.writer(handle).writerow(ACKED_COLUMNS)
    return handle


class OrderBookGenerator(_Generator):
    name = "orderbook-generator"
    default_rate_hz = 4.0
    default_topic = ORDERBOOKS

    def make_record(self, event_ts_us: int) -> OrderBook:
        # Building a book takes a while: stamp produced_ts_us after it, right before encoding.
        return replace(self.sim.next_book(event_ts_us), produced_ts_us=now_us())


def run_trade_generator(config: LabConfig, *, interactive: bool | None = None, max_seconds: float = 0,
                        max_messages: int = 0, stop_file: str = "", **kwargs):
    """Notebook entry point: build the generator and run it (see component.run_component)."""
    from kafkalab.runtime.loop import run_component

    return run_component(TradeGenerator(config, **kwargs), interactive=interactive, max_seconds=max_seconds,
                         max_messages=max_messages, stop_file=stop_file)


def run_orderbook_generator(config: LabConfig, *, interactive: bool | None = None, max_seconds: float = 0,
                            max_messages: int = 0, stop_file: str = "", **kwargs):
    from kafkalab.runtime.loop import run_component

    return run_component(OrderBookGenerator(config, **kwargs), interactive=interactive, max_seconds=max_seconds,
                         max_messages=max_messages, stop_file=stop_file)
