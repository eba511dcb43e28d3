"""CSV sinks against a real cluster: rows match records, bad input is parked, kill -9 is harmless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from confluent_kafka import Consumer

from kafkalab.errors import LabError
from kafkalab.core.models import BookFeatures, Candle, Trade, now_us
from kafkalab.core.csvstore import BOOK_FEATURES_COLUMNS, CANDLES_COLUMNS, TRADES_COLUMNS
from kafkalab.core.csvstore import candles_targets
from kafkalab.transports.kafka.sink import CandlesCsvSink, SinkSettings, TradesCsvSink, trades_target
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.topics import parse_position

from helpers import Raw, produce, read_rows, read_topic, rows_in, wait_for

pytestmark = pytest.mark.timeout(180)
SYMBOLS = ("BTC", "ETH", "SOL", "ADA")


def make_trades(n: int, start_id: int = 1) -> list[Trade]:
    t0 = now_us()
    return [Trade(SYMBOLS[i % 4], start_id + i, 100.0 + i / 7, 0.25 + i % 3, "buy" if i % 2 else "sell",
                  t0 + i, t0 + i) for i in range(n)]


def trade_sink(bootstrap, topic, dlq, data_dir, group_id) -> TradesCsvSink:
    return TradesCsvSink(SinkSettings(bootstrap, group_id, (trades_target(data_dir, topic),), dlq))


def test_trades_rows_match_the_records(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=3), new_topic(partitions=1, prefix="dlq")
    sent = make_trades(120)
    produce(bootstrap, topic, sent[:60], "json")
    produce(bootstrap, topic, sent[60:], "avro")
    counters = run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id), Bounds(max_seconds=60, max_messages=120))
    assert counters["written"] == 120 and counters["dead_letters"] == 0
    rows = read_rows(tmp_path / "trades.csv")
    assert list(rows[0]) == list(TRADES_COLUMNS)
    by_key = {(r["symbol"], int(r["trade_id"])): r for r in rows}
    assert len(by_key) == len(rows) == 120
    for trade in sent:
        row = by_key[(trade.symbol, trade.trade_id)]
        assert float(row["price"]) == trade.price and float(row["size"]) == trade.size
        assert row["side"] == trade.side and int(row["event_ts_us"]) == trade.event_ts_us
        assert int(row["produced_ts_us"]) == trade.produced_ts_us <= int(row["written_ts_us"])
    # every (partition, offset) once, all offsets of each partition present
    assert {r["transport"] for r in rows} == {"kafka"}
    per_partition: dict[int, list[int]] = {}
    for r in rows:
        partition, offset = parse_position(r["position"])
        per_partition.setdefault(partition, []).append(offset)
    for offsets in per_partition.values():
        assert sorted(offsets) == list(range(len(offsets)))


def test_a_copy_of_a_trade_at_a_new_offset_is_written_once(bootstrap, new_topic, group_id, tmp_path):
    """An idempotent producer can still write a batch twice around a leader change (librdkafka#4953):
    the same trades again at later offsets. The sink keeps the first and counts the copies as skipped;
    a new trade that only shares an id (a later generator run) is kept."""
    topic, dlq = new_topic(partitions=1), new_topic(partitions=1, prefix="dlq")
    sent = make_trades(20)
    later_run = [Trade(t.symbol, t.trade_id, t.price, t.size, t.side, t.event_ts_us + 5, t.produced_ts_us + 5)
                 for t in sent[:3]]
    produce(bootstrap, topic, sent + sent[10:] + later_run)
    counters = run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id), Bounds(max_seconds=60, max_messages=33))
    assert counters["written"] == 23 and counters["skipped"] == 10, counters
    rows = read_rows(tmp_path / "trades.csv")
    keys = [(r["symbol"], r["trade_id"], r["produced_ts_us"]) for r in rows]
    assert len(keys) == len(set(keys)) == 23


def test_restart_skips_what_is_written_and_commits_after_writing(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=2), new_topic(partitions=1, prefix="dlq")
    produce(bootstrap, topic, make_trades(40))
    run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id), Bounds(max_seconds=60, max_messages=40))
    produce(bootstrap, topic, make_trades(10, start_id=1000))
    # A different group has no committed offsets: only the CSV keeps it from duplicating.
    sink = trade_sink(bootstrap, topic, dlq, tmp_path, group_id + "-other")
    counters = run_loop(sink, Bounds(max_seconds=60, max_messages=10))
    assert counters["written"] == 10 and counters["skipped"] == 0
    rows = read_rows(tmp_path / "trades.csv")
    assert len(rows) == 50 == len({r["position"] for r in rows})
    # The first group's committed offsets equal what its CSV held at the time.
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    try:
        from confluent_kafka import TopicPartition

        committed = probe.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
    finally:
        probe.close()
    assert sum(tp.offset for tp in committed) == 40


def test_bad_records_go_to_dead_letters_and_the_good_ones_around_them_are_written(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=1), new_topic(partitions=1, prefix="dlq")
    good = make_trades(4)
    corrupt = Raw(b"\x00not json", [("content-type", b"application/json"), ("message-type", b"trade"),
                                     ("schema-version", b"1")])
    produce(bootstrap, topic, [*good[:2], corrupt,
                               Candle("BTC", now_us(), now_us() + 1, 1, 1, 1, 1, 1, 1, 1, now_us(), now_us()),
                               Trade("BT\nC", 1, 1.0, 1.0, "buy", now_us(), now_us()), *good[2:]])
    counters = run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id), Bounds(max_seconds=60, max_messages=7))
    assert counters["written"] == 4 and counters["dead_letters"] == 3
    assert [int(r["trade_id"]) for r in read_rows(tmp_path / "trades.csv")] == [t.trade_id for t in good]
    reasons = [dict(m.headers())["dlq.reason"].decode() for m in read_topic(bootstrap, dlq, 3, timeout_s=30)]
    assert len(reasons) == 3
    assert "expected a trade" in reasons[1] and "symbol contains a control character" in reasons[2]


def test_candles_sink_writes_two_files(bootstrap, new_topic, group_id, tmp_path):
    candles, features, dlq = new_topic(3, prefix="c"), new_topic(3, prefix="f"), new_topic(1, prefix="dlq")
    t0 = now_us() - 10_000_000
    sent_candles = [Candle(s, t0, t0 + 1_000_000, 10.0, 12.5, 9.5, 11.0, 3.0, 10.7, 4, t0 + 1_000_000, now_us())
                    for s in SYMBOLS]
    sent_features = [BookFeatures(s, t0, t0 + 1_000_000, 10.5, 0.01, -0.25, 3, 17, t0 + 1_000_000, now_us())
                     for s in SYMBOLS]
    produce(bootstrap, candles, sent_candles, "msgpack")
    produce(bootstrap, features, sent_features, "avro")
    sink = CandlesCsvSink(SinkSettings(bootstrap, group_id, candles_targets(tmp_path, candles, features), dlq))
    counters = run_loop(sink, Bounds(max_seconds=60, max_messages=8))
    assert counters["candle_rows"] == 4 and counters["book_feature_rows"] == 4
    candle_rows, feature_rows = read_rows(tmp_path / "candles.csv"), read_rows(tmp_path / "book_features.csv")
    assert list(candle_rows[0]) == list(CANDLES_COLUMNS) and list(feature_rows[0]) == list(BOOK_FEATURES_COLUMNS)
    assert sorted(r["symbol"] for r in candle_rows) == sorted(SYMBOLS)
    assert {float(r["high"]) for r in candle_rows} == {12.5} and {int(r["trade_count"]) for r in candle_rows} == {4}
    assert {float(r["imbalance"]) for r in feature_rows} == {-0.25}


def test_unwritable_results_folder_fails_before_consuming(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=1), new_topic(partitions=1, prefix="dlq")
    produce(bootstrap, topic, make_trades(3))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(LabError, match=r"cannot write to results folder .*not-a-folder"):
        run_loop(trade_sink(bootstrap, topic, dlq, blocker / "data", group_id), Bounds(max_seconds=30))
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    try:
        from confluent_kafka import TopicPartition

        (tp,) = probe.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        probe.close()
    assert tp.offset < 0  # nothing consumed, nothing committed


SINK_SCRIPT = """
import json, sys
from kafkalab.pipeline.entry import main
sys.exit(main(["trades-sink", json.dumps({
    "transport": "kafka", "bootstrap_servers": sys.argv[1], "results_dir": sys.argv[2],
    "streams": {"trades": sys.argv[3], "dead-letters": sys.argv[4]}, "group_id": sys.argv[5],
    "max_batch": int(sys.argv[6]), "max_seconds": float(sys.argv[7])})]))
"""


def start_sink(bootstrap, results, topic, dlq, group, max_batch=50, seconds=120.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SINK_SCRIPT, bootstrap, str(results), topic, dlq, group,
                             str(max_batch), str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)



@pytest.mark.slow
def test_kill_9_mid_run_then_restart_leaves_no_duplicate_and_no_gap(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=3), new_topic(partitions=1, prefix="dlq")
    total = 30_000
    produce(bootstrap, topic, make_trades(total))
    csv_path = tmp_path / "data" / "trades.csv"
    kills = 0
    for _round in range(2):  # kill twice, at different points
        proc = start_sink(bootstrap, tmp_path, topic, dlq, group_id)
        target = (kills + 1) * total // 3
        wait_for(lambda: rows_in(csv_path) >= target or proc.poll() is not None, 60, f"{target} rows", step_s=0.01)
        assert proc.poll() is None, proc.stdout.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
    with csv_path.open("ab") as f:  # a torn write, as a kill during write() can leave it
        f.write(b"BTC,999999,101.5,0.2")
    proc = start_sink(bootstrap, tmp_path, topic, dlq, group_id)
    wait_for(lambda: rows_in(csv_path) >= total or proc.poll() is not None, 90, f"all {total} rows", step_s=0.2)
    proc.send_signal(signal.SIGTERM)  # a clean stop: commit, close
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    rows = read_rows(csv_path)
    keys = [r["position"] for r in rows]
    assert len(keys) == len(set(keys)) == total
    assert sorted((r["symbol"], int(r["trade_id"])) for r in rows) == sorted((t.symbol, t.trade_id) for t in make_trades(total))


def test_a_recreated_topic_starts_a_new_csv_instead_of_skipping_its_records(bootstrap, new_topic, group_id, tmp_path):
    from kafkalab.transports.kafka.clients import delete_topics, ensure_topics
    from kafkalab.transports.kafka.sink import topic_id
    from kafkalab.transports.kafka.topics import TopicSpec

    topic, dlq = new_topic(partitions=1), new_topic(partitions=1, prefix="dlq")
    produce(bootstrap, topic, make_trades(5))
    run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id), Bounds(max_seconds=60, max_messages=5))
    old_id = topic_id(bootstrap, topic)
    delete_topics(bootstrap, [topic])

    def recreated() -> bool:  # deletion completes asynchronously on the brokers: retry until a new topic exists
        try:
            ensure_topics(bootstrap, [TopicSpec(topic, 1)])
            return topic_id(bootstrap, topic) != old_id
        except LabError:
            return False
    wait_for(recreated, 30, "the topic deleted and created again", step_s=0.5)
    produce(bootstrap, topic, make_trades(3, start_id=100))  # offsets 0..2 again
    counters = run_loop(trade_sink(bootstrap, topic, dlq, tmp_path, group_id + "-2"), Bounds(max_seconds=60, max_messages=3))
    assert counters["written"] == 3
    assert [int(r["trade_id"]) for r in read_rows(tmp_path / "trades.csv")] == [100, 101, 102]
    (old,) = tmp_path.glob("trades.*.csv")
    assert len(read_rows(old)) == 5
