"""Simulated markets: seeded trades and order books, a pure function of time (no transport).

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
  symbol from `trade_id_base` + 1 (a generator passes `run_trade_id_base`, so two runs never
  share an id).
- Order books: 10-20 levels per side around the fair price (best bid below, best ask
  above, gaps of 1-2 ticks, sizes growing with depth), the venue's metadata, and a
  per-symbol sequence from 1.

Reproducible: the same seed and the same event times give the same records (only the
wall-clock times differ between runs).
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from kafkalab.core.models import Level, OrderBook, Trade, Venue
from kafkalab.errors import ConfigError

GRID_S = 0.25  # fair-price grid step
DAY_S = 86_400
GRID_STEPS = int(DAY_S / GRID_S)
BURST_START_PROB = 1 / 240  # per grid step: a burst starts about once a minute per symbol
BURST_MEAN_STEPS = 12  # about 3 s
BURST_VOLATILITY = 5.0
BURST_ACTIVITY = 4.0
DAY_OPEN_SPREAD = 0.02  # relative std-dev of a day's opening price around the reference
MIN_LEVELS, MAX_LEVELS = 10, 20
# A run's trade ids start at its start time in ms times this: runs that begin even 1 ms apart
# never share an id unless the earlier one made a million trades of a symbol per ms.
RUN_ID_FACTOR = 1_000_000

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


def run_trade_id_base(start_us: int) -> int:
    """Where a run started at `start_us` counts its trade ids from: later runs count from higher
    up (an id stays under 2**63 until the year 2262), and a run's own ids stay contiguous."""
    return (start_us // 1000) * RUN_ID_FACTOR


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

    def __init__(self, symbols: Sequence[str] = DEFAULT_SYMBOLS, seed: int = 7, trade_id_base: int = 0) -> None:
        self.symbols = parse_symbols(symbols)
        self.specs = [SYMBOLS[s] for s in self.symbols]
        self.seed = int(seed)
        # Per-record choices use Python's RNG (fast for scalars), seeded separately from the paths.
        self.rng = random.Random(self.seed)
        self.trade_ids = {s: int(trade_id_base) for s in self.symbols}
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
