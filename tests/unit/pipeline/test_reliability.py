"""kafkalab.bench.accounting: counting, candle checks against the oracle, the ack timeline."""

from __future__ import annotations

import time

from kafkalab.bench.accounting import (AckWatch, candle_mismatches, generator_counters, generator_errors,
                                       recompute_candles, tally)


def trade(symbol: str, trade_id: int, ts: int, price: float, size: float = 1.0) -> dict:
    return {"symbol": symbol, "trade_id": str(trade_id), "event_ts_us": str(ts), "price": str(price), "size": str(size)}


def test_tally_counts_lost_duplicated_and_unacknowledged():
    acked = [{"symbol": "A", "trade_id": "1"}, {"symbol": "A", "trade_id": "2"}, {"symbol": "B", "trade_id": "1"}]
    stored = [trade("A", 1, 0, 1.0), trade("A", 1, 0, 1.0), trade("B", 1, 0, 1.0), trade("C", 9, 0, 1.0)]
    t = tally(acked, stored)
    assert (t.acked, t.stored, t.duplicated, t.lost, t.unacked_stored) == (3, 4, 1, 1, 1)


def test_candles_are_recomputed_by_event_time_then_trade_id():
    rows = [trade("A", 2, 1_000_100, 11.0, 2.0), trade("A", 1, 1_000_100, 10.0), trade("A", 3, 1_999_999, 9.0),
            trade("A", 4, 2_000_000, 50.0)]
    got = recompute_candles(rows)
    assert got[("A", 1_000_000)] == (10.0, 11.0, 9.0, 9.0, 4.0, 3)
    assert got[("A", 2_000_000)] == (50.0, 50.0, 50.0, 50.0, 1.0, 1)


def test_candle_mismatches_finds_wrong_missing_and_doubled_candles():
    rows = [trade("A", 1, 1_000_000, 10.0), trade("A", 2, 2_000_000, 20.0)]
    good = {"symbol": "A", "window_start_us": "1000000", "open": "10.0", "high": "10.0", "low": "10.0",
            "close": "10.0", "volume": "1.0", "trade_count": "1"}
    assert candle_mismatches(rows[:1], [good]) == []
    wrong = good | {"close": "10.5"}
    problems = candle_mismatches(rows, [wrong, good])
    assert any("2 candles" in p for p in problems)
    assert any("missing candle" in p for p in problems)  # the 2 s window
    assert any("!= recomputed" in p for p in problems)


def test_ack_watch_reads_only_complete_lines(tmp_path):
    path = tmp_path / "acked.csv"
    watch = AckWatch(path)
    watch.poll()  # no file yet: nothing
    path.write_text("symbol,trade_id,transport,position\nA,1,kafka,0:0\nA,2,kafka,3:0\nA,3,")
    watch.poll()
    assert watch.partitions() == {0, 3} and len(watch.events) == 2
    before = time.monotonic()
    with path.open("a") as f:
        f.write("1,1\n")
    watch.poll()
    assert watch.partitions() == {0, 1, 3}
    assert watch.all_acked_after(before, {1}) is not None and watch.all_acked_after(before, {0, 1}) is None
    assert watch.longest_gap(before - 1, time.monotonic() + 1) >= 1.0  # at least the second before `before`


def test_longest_gap_is_the_longest_pause_between_acks_and_the_window_edges(tmp_path):
    watch = AckWatch(tmp_path / "none.csv")
    watch.events = [(10.0, 0), (12.5, 1), (13.0, 0)]
    assert watch.longest_gap(9.0, 20.0) == 7.0  # the last ack at 13.0 until the end
    assert watch.longest_gap(9.0, 14.0) == 2.5  # 10.0 -> 12.5
    assert watch.longest_gap(10.5, 12.0) == 1.5  # no ack inside: the whole window


def test_generator_log_parsing():
    log = ("trade-generator: running (max_seconds=900, max_messages=0, stop_file=-)\n"
           "[    5.0 s] trade-generator: produced=10 acked=8 failed=0 rate_hz=2\n"
           "trade-generator: NOT_ENOUGH_REPLICAS: 6 of 6 partitions of t have fewer in-sync replicas\n"
           "trade-generator: produced=20 acked=20 failed=0 rate_hz=0; target 10/s, reached 9.9 records/s\n")
    assert generator_counters(log) == {"produced": 20, "acked": 20, "failed": 0, "rate_hz": 0}
    assert generator_errors(log) == ["trade-generator: NOT_ENOUGH_REPLICAS: 6 of 6 partitions of t have fewer "
                                     "in-sync replicas"]


def test_ack_watch_gives_the_median_produce_to_ack_latency_of_some_partitions(tmp_path):
    path = tmp_path / "acked.csv"
    path.write_text("symbol,trade_id,transport,position,event_ts_us,produced_ts_us,acked_ts_us\n"
                    "A,1,kafka,0:0,0,1000000,1005000\nA,2,kafka,1:0,0,1000000,1250000\n"
                    "A,3,kafka,1:1,0,1000000,1210000\nA,4,kafka,1:2,0,1000000,1230000\n")
    watch = AckWatch(path)
    watch.poll()
    seen = watch.events[0][0]
    assert watch.ack_latency_ms({1}, seen - 1, seen + 1) == 230.0  # partition 1: 250, 210, 230 ms
    assert watch.ack_latency_ms({0}, seen - 1, seen + 1) == 5.0
    assert watch.ack_latency_ms({0, 1}, seen + 1, seen + 2) == 0.0  # nothing seen in that window
