"""Windowing: candles, book features, watermark, late and out-of-order records (pure)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from kafkalab.core.market import MarketSimulator
from kafkalab.core.models import Level, OrderBook, Trade, Venue
from kafkalab.core.windowing import (NEVER, BookFeaturesBuilder, CandleBuilder, Outcome, PartitionWindows, WindowSpec,
                                book_features_of, candles_of)

T0 = 1_700_000_000_000_000  # a whole second, in us
S = 1_000_000
VENUE = Venue("Nasdaq", "XNAS", "America/New_York")


def trade(ts_us: int, price: float, size: float = 1.0, trade_id: int = 1, symbol: str = "AAPL") -> Trade:
    return Trade(symbol, trade_id, price, size, "buy", ts_us, ts_us)


def book(ts_us: int, bid: float, ask: float, bid_size: float = 10.0, ask_size: float = 10.0, sequence: int = 1,
         symbol: str = "AAPL") -> OrderBook:
    return OrderBook(symbol, sequence, VENUE, (Level(bid, bid_size, 1), Level(bid - 0.01, bid_size, 1)),
                     (Level(ask, ask_size, 1),), ts_us, ts_us)


def candle_windows() -> PartitionWindows:
    return PartitionWindows(CandleBuilder, WindowSpec())


def add_trade(part: PartitionWindows, t: Trade, offset: int, now: int | None = None) -> Outcome:
    return part.add(t.symbol, t.event_ts_us, offset, t, now if now is not None else t.event_ts_us)


# ---- candle arithmetic ------------------------------------------------------------------

def test_candle_ohlc_volume_vwap_count():
    trades = [trade(T0 + 100, 10.0, 2, 1), trade(T0 + 200, 12.0, 1, 2), trade(T0 + 300, 9.0, 1, 3),
              trade(T0 + 400, 11.0, 4, 4)]
    (candle,) = candles_of(trades)
    assert (candle.open, candle.high, candle.low, candle.close) == (10.0, 12.0, 9.0, 11.0)
    assert candle.volume == 8.0 and candle.trade_count == 4
    assert candle.vwap == pytest.approx((20 + 12 + 9 + 44) / 8)
    assert (candle.window_start_us, candle.window_end_us, candle.event_ts_us) == (T0, T0 + S, T0 + S)
    candle.validate()


def test_candle_does_not_depend_on_arrival_order():
    trades = [trade(T0 + i * 1000, 100 + (i * 37 % 11), 1 + i % 3, i + 1) for i in range(50)]
    in_order = candles_of(trades)
    shuffled = trades[:]
    random.Random(3).shuffle(shuffled)
    out_of_order = candles_of(shuffled)
    for a, b in zip(in_order, out_of_order):
        assert (a.open, a.high, a.low, a.close, a.volume, a.trade_count) == \
               (b.open, b.high, b.low, b.close, b.volume, b.trade_count)
        assert a.vwap == pytest.approx(b.vwap, rel=1e-12)


def test_same_event_time_breaks_ties_by_trade_id():
    # Both at the same microsecond: open is the lower trade_id, close the higher, whatever the arrival order.
    (candle,) = candles_of([trade(T0 + 5, 20.0, trade_id=8), trade(T0 + 5, 10.0, trade_id=7)])
    assert (candle.open, candle.close) == (10.0, 20.0)


def test_windows_split_by_second_and_symbol():
    trades = [trade(T0 + 999_999, 1.0), trade(T0 + S, 2.0), trade(T0 + 10, 3.0, symbol="MSFT")]
    candles = candles_of(trades)
    assert [(c.symbol, c.window_start_us, c.trade_count) for c in candles] == \
           [("AAPL", T0, 1), ("AAPL", T0 + S, 1), ("MSFT", T0, 1)]


def test_book_features_mid_spread_imbalance():
    books = [book(T0 + 100, 9.99, 10.01, 30, 10, sequence=1), book(T0 + 900, 10.00, 10.04, 10, 10, sequence=2)]
    (features,) = book_features_of(list(reversed(books)))  # out of order: last is still sequence 2
    assert features.mid_price == pytest.approx(10.02)
    assert features.spread == pytest.approx((0.02 + 0.04) / 2)
    # book 1: bids 2 levels of 30 vs 10 asks -> (60-10)/70; book 2: (20-10)/30
    assert features.imbalance == pytest.approx(((50 / 70) + (10 / 30)) / 2)
    assert (features.snapshot_count, features.last_sequence) == (2, 2)
    features.validate()


def test_a_books_mid_and_spread_carry_no_float_noise():
    (features,) = book_features_of([book(T0, 182.84, 182.86)])
    assert (182.84 + 182.86) / 2 != 182.85  # the noise the rounding removes
    assert (features.mid_price, features.spread) == (182.85, 0.02)


def test_simulated_results_are_written_without_float_noise():
    """Prices on their tick, a book's mid and spread exact, means at most 12 decimals, in the CSV too."""
    from kafkalab.core.csvstore import format_rows

    sim = MarketSimulator(seed=5)
    trades = [sim.next_trade(T0 + i * 7_000) for i in range(3000)]
    books = [sim.next_book(T0 + i * 20_000) for i in range(600)]
    text = format_rows([[t.price, t.size] for t in trades] +
                       [[c.open, c.high, c.low, c.close, c.volume, c.vwap] for c in candles_of(trades)] +
                       [[f.mid_price, f.spread] for f in book_features_of(books)]).decode()
    decimals = [len(value.partition(".")[2]) for line in text.splitlines() for value in line.split(",")]
    assert decimals and max(decimals) <= 12, max(decimals)
    assert {t.price for t in trades} == {round(t.price, 2) for t in trades}


def test_simulated_data_gives_valid_results():
    sim = MarketSimulator(seed=11)
    trades = [sim.next_trade(T0 + i * 7_000) for i in range(2000)]
    books = [sim.next_book(T0 + i * 50_000) for i in range(300)]
    for result in [*candles_of(trades), *book_features_of(books)]:
        result.validate()


# ---- watermark, late records, idle rule ---------------------------------------------------

def test_window_closes_when_watermark_passes_its_end():
    part = candle_windows()
    add_trade(part, trade(T0 + 100, 1.0), 0)
    add_trade(part, trade(T0 + S + 499_999, 2.0), 1)  # watermark T0 + S - 1: not yet
    assert part.take_ready() == []
    add_trade(part, trade(T0 + S + 500_000, 3.0), 2)  # watermark reaches T0 + S: closes
    (window,) = part.take_ready()
    assert (window.start_us, window.builder.count) == (T0, 1)
    assert part.closed_through_us == T0 + S


def test_out_of_order_within_lateness_is_added():
    part = candle_windows()
    add_trade(part, trade(T0 + 900_000, 5.0, trade_id=2), 0)
    add_trade(part, trade(T0 + S + 300_000, 6.0, trade_id=3), 1)  # next window, watermark T0 + 800 ms
    assert add_trade(part, trade(T0 + 100_000, 4.0, trade_id=1), 2) is Outcome.ADDED  # older, but open
    add_trade(part, trade(T0 + 3 * S, 7.0, trade_id=4), 3)
    first = part.take_ready()[0].result(0)
    assert (first.open, first.close, first.trade_count) == (4.0, 5.0, 2)


def test_late_record_for_a_closed_window_is_late_and_not_added():
    part = candle_windows()
    add_trade(part, trade(T0 + 100, 1.0), 0)
    add_trade(part, trade(T0 + 2 * S, 2.0), 1)  # closes [T0, T0+1s)
    closed = part.take_ready()
    assert [w.start_us for w in closed] == [T0]
    assert add_trade(part, trade(T0 + 999_999, 9.0), 2) is Outcome.LATE
    assert part.late_count == 1
    assert closed[0].builder.count == 1  # the emitted window is unchanged
    assert (T0, "AAPL") not in {(w.start_us, w.symbol) for w in part.windows.values()}


def test_late_record_for_a_window_that_never_existed_is_late():
    part = candle_windows()
    add_trade(part, trade(T0 + 5 * S, 1.0), 0)  # watermark T0 + 4.5 s
    assert add_trade(part, trade(T0 + 3 * S + 1, 2.0, symbol="MSFT"), 1) is Outcome.LATE
    assert add_trade(part, trade(T0 + 4 * S + 1, 2.0, symbol="MSFT"), 2) is Outcome.ADDED  # ends at 5 s > 4.5 s


def test_late_rule_depends_only_on_record_order():
    """The same record sequence gives the same late records whatever the processing times
    (as long as no partition goes idle)."""
    rng = random.Random(5)
    records = [trade(T0 + int(i * 100_000 + rng.gauss(0, 400_000)), 1.0 + i, trade_id=i + 1) for i in range(200)]
    outcomes = []
    for now_step in (0, 100_000):  # everything at once vs. 100 ms between records
        part = PartitionWindows(CandleBuilder, WindowSpec())
        outcomes.append([add_trade(part, r, i, now=T0 + i * now_step) for i, r in enumerate(records)])
    assert outcomes[0] == outcomes[1]
    assert Outcome.LATE in outcomes[0] and Outcome.ADDED in outcomes[0]


def test_idle_rule_closes_the_last_window():
    part = candle_windows()
    add_trade(part, trade(T0 + 200_000, 1.0), 0, now=T0 + 200_000)
    part.close_idle(T0 + 2 * S)  # idle 1.8 s < 2 s: watermark still T0 - 300 ms
    assert part.take_ready() == []
    # Closes once watermark = max event - lateness + (idle - timeout) reaches T0 + 1 s:
    # 0.2 - 0.5 + (idle - 2) >= 1  ->  idle >= 3.3 s
    part.close_idle(T0 + 200_000 + 3_299_999)
    assert part.take_ready() == []
    part.close_idle(T0 + 200_000 + 3_300_000)
    assert [w.start_us for w in part.take_ready()] == [T0]


def test_resume_offset_is_the_oldest_record_of_an_open_window():
    part = candle_windows()
    assert part.resume_offset() == -1
    add_trade(part, trade(T0 + 100, 1.0), 10)
    add_trade(part, trade(T0 + S + 100, 1.0), 11)
    assert part.resume_offset() == 10
    add_trade(part, trade(T0 + 3 * S, 1.0), 12)  # closes the first two windows
    assert part.resume_offset() == 10  # closed but not taken (not emitted) yet
    part.take_ready()
    assert part.resume_offset() == 12
    part.close_idle(T0 + 100 * S)
    part.take_ready()
    assert part.resume_offset() == 13


def test_replay_after_restart_skips_closed_windows_and_rebuilds_open_ones():
    """A restart from (resume offset, closed_through, replay_until) gives the same results."""
    rng = random.Random(9)
    records = [trade(T0 + int(i * 50_000 + rng.gauss(0, 200_000)), 10 + rng.random(), 1 + rng.randint(0, 5), i + 1)
               for i in range(400)]
    # One uninterrupted run.
    full = candle_windows()
    outcomes = [add_trade(full, r, i) for i, r in enumerate(records)]
    full.close_idle(T0 + 10**9)
    expected = [w.result(0) for w in full.take_ready()]

    # A run that emits and "commits" after record 217, then crashes and restarts.
    first = candle_windows()
    emitted = []
    for i, r in enumerate(records[:218]):
        add_trade(first, r, i)
    emitted += [w.result(0) for w in first.take_ready()]
    resume, closed_through, replay_until = first.resume_offset(), first.closed_through_us, first.next_offset
    second = PartitionWindows(CandleBuilder, WindowSpec(), closed_through, replay_until)
    replay = [add_trade(second, r, i) for i, r in enumerate(records[resume:], start=resume)]
    second.close_idle(T0 + 10**9)
    emitted += [w.result(0) for w in second.take_ready()]

    assert emitted == expected  # no window missing, none twice, same values
    # Late records are late exactly once: replayed ones before replay_until are skipped.
    late_first = [i for i, o in enumerate(outcomes[:218]) if o is Outcome.LATE]
    late_again = [i for i, o in zip(range(resume, len(records)), replay) if o is Outcome.LATE]
    assert not set(late_first) & set(late_again)
    assert sorted(late_first + late_again) == [i for i, o in enumerate(outcomes) if o is Outcome.LATE]


def test_fresh_partition_has_no_watermark():
    part = candle_windows()
    assert part.watermark(T0) == NEVER
    part.close_idle(T0)
    assert part.take_ready() == []


def test_window_spec_rejects_nonsense():
    with pytest.raises(ValueError):
        WindowSpec(size_us=0)
    assert WindowSpec().start_of(T0 + 1_234_567) == T0 + S


def test_book_features_builder_single_snapshot():
    builder = BookFeaturesBuilder()
    builder.add(book(T0, 10.0, 10.02, 5, 15, sequence=4))
    result = builder.result("AAPL", T0, T0 + S, T0 + S)
    assert (result.mid_price, result.last_sequence, result.snapshot_count) == (pytest.approx(10.01), 4, 1)
    assert result.imbalance == pytest.approx((10 - 15) / 25)


def test_idle_rule_waits_while_records_are_pending_or_replaying():
    part = candle_windows()
    add_trade(part, trade(T0 + 200_000, 1.0), 0, now=T0)
    part.close_idle(T0 + 100 * S, caught_up=False)  # the consumer is behind: not idle
    assert part.take_ready() == []
    part.close_idle(T0 + 100 * S, caught_up=True)
    assert len(part.take_ready()) == 1

    restarted = PartitionWindows(CandleBuilder, WindowSpec(), closed_through_us=T0, replay_until=10, restored_offset=4)
    restarted.next_offset = 4
    add_trade(restarted, trade(T0 + S + 1, 1.0), 4, now=T0)
    add_trade(restarted, trade(T0 + 3 * S, 1.0), 5, now=T0)  # closes [T0+1s, T0+2s) by event time
    restarted.close_idle(T0 + 100 * S)  # replay not finished (next offset 6 < 10): no idle close
    assert [w.start_us for w in restarted.take_ready()] == [T0 + S]
    assert restarted.resume_offset() == 4  # offsets 6..9 are not re-read yet
    for offset in range(6, 10):
        add_trade(restarted, trade(T0 + 3 * S + offset, 1.0), offset, now=T0)
    assert restarted.resume_offset() == 5
    restarted.close_idle(T0 + 100 * S)
    restarted.take_ready()
    assert restarted.resume_offset() == 10


# ---- the tests' independent oracles agree with the builders ------------------------------

def test_the_builders_agree_with_the_plain_arithmetic_oracles_of_the_tests():
    """tests/helpers.py recomputes windows without the builders; both must give the same windows
    (so an integration test that compares output with the oracle checks the arithmetic)."""
    from dataclasses import asdict

    from helpers import assert_match, book_features_from_books, candles_from_trades

    sim = MarketSimulator(seed=9)
    trades = [sim.next_trade(T0 + i * 7_000) for i in range(3000)]
    books = [sim.next_book(T0 + i * 90_000) for i in range(200)]
    expected = candles_from_trades(trades)
    assert expected == candles_from_trades([{k: str(v) for k, v in asdict(t).items()} for t in trades])  # CSV rows
    assert len(expected) > 100
    assert_match(candles_of(reversed(trades)), expected, "candle")
    assert_match(book_features_of(books), book_features_from_books(books), "book-features window")
    # a hand-made window, to pin the oracle itself down
    (only,) = candles_from_trades([trade(T0 + 2, 12.0, 1, 2), trade(T0 + 1, 10.0, 3, 1), trade(T0 + 3, 11.0, 1, 3)]).values()
    assert only == {"open": 10.0, "high": 12.0, "low": 10.0, "close": 11.0, "volume": 5.0, "vwap": 53 / 5,
                    "trade_count": 3}
    # and the comparison catches a wrong value, a missing window and a duplicate
    candles = candles_of(trades)
    for broken in ([replace(candles[0], vwap=candles[0].vwap * (1 + 1e-6)), *candles[1:]], candles[1:],
                   [*candles, candles[-1]]):
        with pytest.raises(AssertionError):
            assert_match(broken, expected, "candle")


def test_a_copy_of_a_record_in_its_window_is_a_duplicate_and_not_added():
    part = candle_windows()
    first = trade(T0 + 100, 1.0, trade_id=1)
    assert part.add(first.symbol, first.event_ts_us, 0, first, first.event_ts_us, identity=(1, T0 + 100)) is Outcome.ADDED
    assert part.add(first.symbol, first.event_ts_us, 7, first, first.event_ts_us, identity=(1, T0 + 100)) \
        is Outcome.DUPLICATE
    same_id_other_run = trade(T0 + 200, 2.0, trade_id=1)
    assert part.add("AAPL", T0 + 200, 8, same_id_other_run, T0 + 200, identity=(1, T0 + 200)) is Outcome.ADDED
    add_trade(part, trade(T0 + 3 * S, 9.0, trade_id=2), 9)
    (window,) = [w for w in part.take_ready() if w.start_us == T0]
    assert window.builder.count == 2 and window.first_offset == 0
