"""The market simulation: seeded, varied, valid, books consistent with trades (pure, no broker)."""

from __future__ import annotations

import statistics
import zlib
from collections import Counter

import pytest

from kafkalab.errors import ConfigError
from kafkalab.core.market import (DEFAULT_SYMBOLS, MAX_LEVELS, MIN_LEVELS, SYMBOLS, MarketSimulator, fair_price, in_burst,
                                  parse_symbols, run_trade_id_base)
from kafkalab.core.models import Trade

T0 = 1_700_000_000_000_000
MS = 1_000


def trades(seed: int = 7, n: int = 3000, step_us: int = 20 * MS, symbols=DEFAULT_SYMBOLS):
    sim = MarketSimulator(symbols, seed)
    return [sim.next_trade(T0 + i * step_us) for i in range(n)]


def test_same_seed_same_records_other_seed_other_records():
    assert trades(seed=1, n=500) == trades(seed=1, n=500)
    assert [t.price for t in trades(seed=1, n=500)] != [t.price for t in trades(seed=2, n=500)]
    a, b = MarketSimulator(seed=3), MarketSimulator(seed=3)
    assert [a.next_book(T0 + i * MS) for i in range(50)] == [b.next_book(T0 + i * MS) for i in range(50)]


def test_trades_are_valid_and_ids_count_per_symbol_from_one():
    records = trades()
    for t in records:
        t.validate()
    for symbol in DEFAULT_SYMBOLS:
        ids = [t.trade_id for t in records if t.symbol == symbol]
        assert ids == list(range(1, len(ids) + 1))


def test_two_runs_never_share_a_trade_id_and_each_counts_without_a_hole():
    runs = []
    for start_us in (T0, T0 + MS):  # two runs started a millisecond apart, the same seed
        sim = MarketSimulator(seed=7, trade_id_base=run_trade_id_base(start_us))
        runs.append([sim.next_trade(start_us + i * 20 * MS) for i in range(3000)])
    first, second = ({(t.symbol, t.trade_id) for t in run} for run in runs)
    assert len(first) == len(second) == 3000 and not first & second
    for run in runs:
        base = run_trade_id_base(run[0].event_ts_us)
        for symbol in DEFAULT_SYMBOLS:
            ids = [t.trade_id for t in run if t.symbol == symbol]
            assert ids == list(range(base + 1, base + len(ids) + 1))
    assert max(t.trade_id for t in runs[0]) < min(t.trade_id for t in runs[1])  # later runs count higher
    Trade.validate(runs[1][-1])
    assert run_trade_id_base(9_000_000_000_000_000) < 2**63  # fits a 64-bit long (Avro, msgpack) till 2255


def test_every_symbol_trades_with_varied_sizes_and_both_sides():
    records = trades()
    counts = Counter(t.symbol for t in records)
    assert set(counts) == set(DEFAULT_SYMBOLS)
    assert len({t.size for t in records}) > 50
    assert {t.side for t in records} == {"buy", "sell"}


def test_prices_sit_on_the_tick_and_near_the_reference():
    for t in trades():
        spec = SYMBOLS[t.symbol]
        assert abs(t.price / spec.tick - round(t.price / spec.tick)) < 1e-6
        assert 0.5 * spec.reference_price < t.price < 2 * spec.reference_price


def test_symbols_have_different_volatility():
    """Relative 1-second moves of the fair price: the volatile symbols move more."""
    def realized(symbol: str) -> float:
        prices = [fair_price(7, symbol, T0 + i * 1_000_000) for i in range(3600)]
        return statistics.pstdev([b / a - 1 for a, b in zip(prices, prices[1:])])
    assert realized("TSLA") > 3 * realized("KO")
    assert realized("NVDA") > 2 * realized("GS")


def test_bursts_exist_and_move_prices_more():
    symbol, seed = "AAPL", 7
    flags = [in_burst(seed, symbol, T0 + i * 250_000) for i in range(4 * 3600)]
    assert 0.01 < sum(flags) / len(flags) < 0.5

    def moves(burst: bool) -> list[float]:
        out = []
        for i, flag in enumerate(flags[:-1]):
            if flag == burst and flags[i + 1] == burst:
                a = fair_price(seed, symbol, T0 + i * 250_000)
                b = fair_price(seed, symbol, T0 + (i + 1) * 250_000)
                out.append(abs(b / a - 1))
        return out
    assert statistics.mean(moves(True)) > 2 * statistics.mean(moves(False))


def test_busy_symbols_trade_more_in_bursts():
    sim = MarketSimulator(seed=7)
    burst_share, calm_share = [], []
    for second in range(600):
        ts = T0 + second * 1_000_000
        records = [sim.next_trade(ts + k) for k in range(20)]
        for symbol in DEFAULT_SYMBOLS:
            share = sum(t.symbol == symbol for t in records) / len(records)
            (burst_share if in_burst(7, symbol, ts) else calm_share).append(share)
    assert statistics.mean(burst_share) > 1.5 * statistics.mean(calm_share)


def test_books_are_valid_nested_and_sequenced():
    sim = MarketSimulator(seed=5)
    books = [sim.next_book(T0 + i * 250 * MS) for i in range(240)]
    for b in books:
        b.validate()
        assert MIN_LEVELS <= len(b.bids) <= MAX_LEVELS and MIN_LEVELS <= len(b.asks) <= MAX_LEVELS
        assert b.venue == SYMBOLS[b.symbol].venue
    for symbol in DEFAULT_SYMBOLS:
        sequences = [b.sequence for b in books if b.symbol == symbol]
        assert sequences == list(range(1, len(sequences) + 1))
    assert len({len(b.bids) for b in books}) > 3  # depth varies


def test_books_from_another_process_are_consistent_with_the_trades():
    """Two simulators with the same seed (the two generator processes) agree on prices:
    each trade lies within a few ticks of the book's best bid/ask at the same moment."""
    trade_sim, book_sim = MarketSimulator(seed=21), MarketSimulator(seed=21)
    for i in range(2000):
        ts = T0 + i * 37 * MS
        t = trade_sim.next_trade(ts)
        b = book_sim.book(t.symbol, ts)
        tick = SYMBOLS[t.symbol].tick
        assert b.bids[0].price - 3 * tick <= t.price <= b.asks[0].price + 3 * tick


def test_parse_symbols():
    assert parse_symbols("") == DEFAULT_SYMBOLS
    assert parse_symbols("aapl, GS,AAPL") == ("AAPL", "GS")
    with pytest.raises(ConfigError, match="unknown symbol"):
        parse_symbols("AAPL,NOPE")


def test_a_subset_of_symbols():
    records = trades(symbols=("KO", "GS"), n=200)
    assert {t.symbol for t in records} == {"KO", "GS"}


def test_default_symbols_spread_over_partitions():
    """confluent-kafka's default partitioner is CRC32(key) % partitions: one symbol per
    partition of `trades` (6), two per partition of a 3-partition topic."""
    for partitions, per_partition in ((6, 1), (3, 2)):
        spread = Counter(zlib.crc32(s.encode()) % partitions for s in DEFAULT_SYMBOLS)
        assert sorted(spread.values()) == [per_partition] * partitions

