"""The processor's decisions without a broker: MarketLogic driven by plain (key, offset, record) tuples."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kafkalab.core.market import MarketSimulator
from kafkalab.core.market_logic import MarketLogic, Verdict
from kafkalab.core.models import Candle, InvalidMessage
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES
from kafkalab.core.windowing import WindowSpec, book_features_of, candles_of

T0 = 1_700_000_000_000_000
S = 1_000_000
TRADES_P0, TRADES_P1, BOOKS_P0 = ("trades", 0), ("trades", 1), ("orderbooks", 0)


def simulated_trades(n: int, step_us: int = 20_000, seed: int = 11, symbols=("AAPL", "KO")):
    sim = MarketSimulator(symbols, seed)
    return [sim.next_trade(T0 + i * step_us) for i in range(n)]


def logic_with(*keys_and_streams) -> MarketLogic:
    logic = MarketLogic(WindowSpec())
    for key, stream in keys_and_streams:
        logic.open(key, stream)
    return logic


def clock_of(records):
    """Processing time follows event time (records arrive as they happen)."""
    times = iter(r.event_ts_us for r in records)
    return lambda: next(times)


def comparable(candles):
    """A candle without its produced time (the one thing a replay may change)."""
    return sorted((replace(c, produced_ts_us=0) for c in candles), key=lambda c: (c.symbol, c.window_start_us))


def test_closed_windows_equal_the_windows_computed_from_all_trades():
    trades = simulated_trades(600)  # 12 s of trades
    logic = logic_with((TRADES_P0, TRADES))
    outputs, dead = logic.run(((TRADES_P0, i, t) for i, t in enumerate(trades)), clock_of(trades))
    assert dead == []
    assert {o.stream for o in outputs} == {CANDLES} and all(o.source == TRADES_P0 for o in outputs)
    # the watermark (max event time - 500 ms) has closed every window ending by then
    watermark = trades[-1].event_ts_us - WindowSpec().allowed_lateness_us
    expected = [c for c in candles_of(trades) if c.window_end_us <= watermark]
    assert len(expected) >= 20
    assert comparable(o.record for o in outputs) == comparable(expected)


def test_order_books_become_book_features_per_window():
    sim = MarketSimulator(("AAPL", "GS"), seed=4)
    books = [sim.next_book(T0 + i * 250_000) for i in range(40)]
    logic = logic_with((BOOKS_P0, ORDERBOOKS))
    outputs, dead = logic.run(((BOOKS_P0, i, b) for i, b in enumerate(books)), clock_of(books))
    assert dead == [] and {o.stream for o in outputs} == {BOOK_FEATURES}
    closed = {(o.record.symbol, o.record.window_start_us) for o in outputs}
    expected = [f for f in book_features_of(books) if (f.symbol, f.window_start_us) in closed]
    assert len(closed) >= 10
    assert comparable(o.record for o in outputs) == comparable(expected)


def test_a_record_for_a_closed_window_is_late_with_the_reason():
    trades = simulated_trades(200, symbols=("AAPL",))
    logic = logic_with((TRADES_P0, TRADES))
    logic.run(((TRADES_P0, i, t) for i, t in enumerate(trades)), clock_of(trades))
    straggler = replace(trades[0], trade_id=10_000)  # its window closed seconds ago
    decision = logic.handle(TRADES_P0, len(trades), straggler, trades[-1].event_ts_us)
    assert decision.verdict is Verdict.LATE
    assert decision.reason.startswith(f"late: event time {straggler.event_ts_us} us is in window [{T0}, {T0 + S}) of AAPL")
    # within the allowance it is simply added (out of order)
    recent = replace(trades[-1], event_ts_us=trades[-1].event_ts_us - 400_000, trade_id=10_001)
    assert logic.handle(TRADES_P0, len(trades) + 1, recent, trades[-1].event_ts_us).verdict is Verdict.ADDED


def test_invalid_records_are_dead_letters_with_the_reason():
    logic = logic_with((TRADES_P0, TRADES), (BOOKS_P0, ORDERBOOKS))
    book = MarketSimulator(seed=1).next_book(T0)
    trade = simulated_trades(1)[0]
    trade_ahead = replace(trade, event_ts_us=T0 + 6 * S)
    outputs, dead = logic.run([(TRADES_P0, 0, book), (BOOKS_P0, 0, trade), (TRADES_P0, 1, trade)], lambda: T0)
    assert outputs == [] and [d.verdict for d in dead] == [Verdict.INVALID, Verdict.INVALID]
    assert dead[0].reason == "a orderbook record in trades (expected trade)"
    assert dead[1].reason == "a trade record in orderbooks (expected orderbook)"
    assert logic.validate(TRADES, trade_ahead, T0 + S) is trade_ahead  # 5 s ahead is allowed
    with pytest.raises(InvalidMessage) as refused:
        logic.validate(TRADES, trade_ahead, T0, where="topic t1", stamp="the record's Kafka timestamp")
    assert str(refused.value) == (f"event time {T0 + 6 * S} us is more than 5 s ahead of the record's Kafka "
                                  f"timestamp ({T0 // 1000} ms)")
    with pytest.raises(InvalidMessage, match=r"^a orderbook record in topic t1 \(expected trade\)$"):
        logic.validate(TRADES, book, where="topic t1")


def test_a_restart_from_the_stored_state_emits_every_window_exactly_once():
    """Stop anywhere, restart from what resume_state stored, replay from its offset:
    together the two runs emit exactly what one uninterrupted run emits."""
    trades = simulated_trades(900)
    records = [(TRADES_P0, i, t) for i, t in enumerate(trades)]
    uninterrupted, _ = logic_with((TRADES_P0, TRADES)).run(records, clock_of(trades))
    for stop_at in (1, 137, 450, 899):
        first = logic_with((TRADES_P0, TRADES))
        before, _ = first.run(records[:stop_at], clock_of(trades[:stop_at]))
        offset, closed_through_us, replay_until = first.resume_state(TRADES_P0)
        assert 0 <= offset <= stop_at and replay_until == stop_at
        second = MarketLogic(WindowSpec())
        second.open(TRADES_P0, TRADES, closed_through_us, replay_until, offset)
        replayed = [second.handle(TRADES_P0, i, t, t.event_ts_us).verdict for _, i, t in records[offset:stop_at]]
        assert second.take_outputs(0) == []  # the replay closes nothing a second time
        assert Verdict.LATE not in replayed
        after, _ = second.run(records[stop_at:], clock_of(trades[stop_at:]))
        assert comparable(o.record for o in before + after) == comparable(o.record for o in uninterrupted), stop_at


def test_idle_rule_closes_windows_only_when_every_partition_of_the_stream_is_idle_and_caught_up():
    logic = logic_with((TRADES_P0, TRADES), (TRADES_P1, TRADES))
    a = simulated_trades(1, symbols=("AAPL",))[0]
    b = replace(simulated_trades(1, symbols=("KO",))[0], event_ts_us=T0 + 100)
    logic.handle(TRADES_P0, 0, a, T0)
    logic.handle(TRADES_P1, 0, b, T0 + 2_500_000)  # partition 1 still receives
    logic.close_idle(T0 + 3_000_000, lambda key, part: True)
    assert logic.take_outputs(0) == []  # partition 0 is quiet, but the stream is not
    logic.close_idle(T0 + 10 * S, lambda key, part: False)
    assert logic.take_outputs(0) == []  # idle, but records are known to wait: keep the windows open
    logic.close_idle(T0 + 10 * S, lambda key, part: True)
    closed = logic.take_outputs(T0 + 10 * S)
    assert sorted((o.source, o.record.symbol) for o in closed) == [(TRADES_P0, "AAPL"), (TRADES_P1, "KO")]
    assert all(isinstance(o.record, Candle) and o.record.produced_ts_us == T0 + 10 * S for o in closed)
    assert logic.idle_streams(T0 + 10 * S) == {TRADES}


def test_records_of_a_dropped_partition_are_not_ours():
    logic = logic_with((TRADES_P0, TRADES))
    trade = simulated_trades(1)[0]
    logic.drop(TRADES_P0)
    assert logic.handle(TRADES_P0, 0, trade, T0).verdict is Verdict.NOT_OURS
    assert logic.handle_invalid(TRADES_P0, 0, "bad", T0).verdict is Verdict.NOT_OURS
    assert logic.partitions == {} and logic.idle_streams(T0) == set()


def test_a_trade_written_twice_counts_once_in_its_candle():
    trades = simulated_trades(60)
    logic = logic_with((TRADES_P0, TRADES))
    copies = trades[10:15]  # the same records again at new offsets, as after a producer's epoch bump
    verdicts = [logic.handle(TRADES_P0, offset, t, t.event_ts_us).verdict
                for offset, t in enumerate(trades[:20] + copies + trades[20:])]
    assert verdicts.count(Verdict.DUPLICATE) == 5 and verdicts.count(Verdict.ADDED) == 60
    logic.close_idle(trades[-1].event_ts_us + 10 * S, lambda key, part: True)
    emitted = [o.record for o in logic.take_outputs(trades[-1].event_ts_us + 10 * S)]
    assert comparable(emitted) == comparable(candles_of(trades))
