"""MarketProcessor on a real cluster: results equal direct windowing; late and bad input
go to dead-letters; kill -9 and restart gives no duplicate and no missing candle."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from kafkalab.transports.kafka import clients
from kafkalab import config as lab_config
from kafkalab.core import serde
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.deadletters import H_REASON
from kafkalab.core.market import MarketSimulator
from kafkalab.transports.kafka.generator import TradeGenerator
from kafkalab.core.models import Candle, now_us
from kafkalab.transports.kafka.processor import MarketProcessor, Topics, decode_metadata
from kafkalab.core.windowing import book_features_of, candles_of

pytestmark = pytest.mark.timeout(240)
S = 1_000_000


@pytest.fixture
def topics(new_topic) -> Topics:
    return Topics(new_topic(3, prefix="tr"), new_topic(3, prefix="ob"), new_topic(3, prefix="ca"),
                  new_topic(3, prefix="bf"), new_topic(1, prefix="dl"))


def produce(bootstrap: str, topic: str, records) -> None:
    with clients.producer(bootstrap) as producer:
        for record in records:
            value, headers = serde.encode(record, "msgpack")
            producer.produce(topic, key=record.symbol.encode(), value=value, headers=headers)
            producer.poll(0)


def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60.0, settle_s: float = 2.0) -> list:
    """Every committed record of a topic: waits for `expect` of them, then `settle_s` for extras."""
    with clients.consumer(bootstrap, f"reader-{topic}-{time.monotonic_ns()}") as consumer:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        records, deadline, settled = [], time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                if msg.error() is None:
                    records.append(msg)
            if len(records) >= expect:
                settled = settled or time.monotonic() + settle_s
                if time.monotonic() >= settled:
                    break
        return records


def key(result) -> tuple[str, int]:
    return result.symbol, result.window_start_us


def assert_same_candles(got: list[Candle], expected: list[Candle]) -> None:
    keys = [key(c) for c in got]
    assert len(keys) == len(set(keys)), "a window was emitted twice"
    got_by_key = {key(c): c for c in got}
    assert set(got_by_key) == {key(c) for c in expected}, "a window is missing or extra"
    for want in expected:
        have = got_by_key[key(want)]
        assert (have.open, have.high, have.low, have.close, have.volume, have.trade_count) == \
               (want.open, want.high, want.low, want.close, want.volume, want.trade_count), key(want)
        assert have.vwap == pytest.approx(want.vwap, rel=1e-9)


def test_results_equal_direct_windowing_with_late_and_bad_input(bootstrap, topics, group_id):
    sim = MarketSimulator(seed=42)
    base = (now_us() // S - 30) * S  # 30 s ago, on a whole second
    trades = [sim.next_trade(base + i * 10_000) for i in range(600)]  # 6 s of trades
    # Out of order within the allowed lateness: each record delayed by up to 300 ms (< 500 ms).
    rng = random.Random(1)
    produced_order = sorted(trades, key=lambda t: t.event_ts_us + rng.randint(0, 300_000))
    # Late: after everything else, two trades from the first second (their window closed long ago).
    late = [sim.next_trade(base + 100_000 + i) for i in range(2)]
    books = [sim.next_book(base + i * 50_000) for i in range(120)]
    produce(bootstrap, topics.trades, produced_order + late)
    produce(bootstrap, topics.orderbooks, books)
    with clients.producer(bootstrap) as producer:  # garbage: not ours, and a valid trade in the wrong topic
        producer.produce(topics.trades, key=b"AAPL", value=b"\x00not a record")
        value, headers = serde.encode(trades[0], "json")
        producer.produce(topics.orderbooks, key=b"AAPL", value=value, headers=headers)

    expected_candles, expected_features = candles_of(trades), book_features_of(books)
    config = lab_config.load(bootstrap_servers=bootstrap)
    processor = MarketProcessor(config, group_id=group_id, topics=topics, idle_timeout_ms=500)
    done = lambda: (processor.counters["candles"] >= len(expected_candles)
                    and processor.counters["book_features"] >= len(expected_features)
                    and processor.counters["dead_letters"] >= 4)
    watcher = threading.Thread(target=lambda: (_wait_for(done, 90), processor.stop()), daemon=True)
    watcher.start()
    counters = run_loop(processor, Bounds(max_seconds=120))

    assert counters["late"] == 2 and counters["dead_letters"] == 4
    assert counters["consumed"] == len(trades) + len(late) + len(books) + 2
    candles = [serde.decode(m.value(), m.headers()) for m in read_topic(bootstrap, topics.candles, len(expected_candles))]
    assert_same_candles(candles, expected_candles)
    features = [serde.decode(m.value(), m.headers())
                for m in read_topic(bootstrap, topics.book_features, len(expected_features))]
    assert sorted((key(f), f.snapshot_count, f.last_sequence) for f in features) == \
           sorted((key(f), f.snapshot_count, f.last_sequence) for f in expected_features)
    want = {key(f): f for f in expected_features}
    for f in features:
        assert f.mid_price == pytest.approx(want[key(f)].mid_price)
        assert f.spread == pytest.approx(want[key(f)].spread) and f.imbalance == pytest.approx(want[key(f)].imbalance)

    reasons = [dict(m.headers())[H_REASON].decode() for m in read_topic(bootstrap, topics.dead_letters, 4)]
    assert sum(r.startswith("late:") for r in reasons) == 2
    assert any("corrupt" in r or "header" in r for r in reasons)
    assert any("expected orderbook" in r for r in reasons)

    # Offsets were committed with the watermark metadata a restart needs.
    with clients.consumer(bootstrap, group_id) as consumer:
        committed = consumer.committed([TopicPartition(topics.trades, p) for p in range(3)], timeout=10)
    used = {m.partition() for m in read_topic(bootstrap, topics.trades, len(trades), settle_s=0)}
    assert used and all(tp.offset >= 0 and decode_metadata(tp.metadata)[1] > 0
                        for tp in committed if tp.partition in used), committed


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)


PROCESSOR_SCRIPT = """
import sys
from kafkalab import config
from kafkalab.runtime.loop import run_component
from kafkalab.transports.kafka.processor import MarketProcessor, Topics
topics = Topics(*sys.argv[4:9])
cfg = config.load(bootstrap_servers=sys.argv[1])
run_component(MarketProcessor(cfg, group_id=sys.argv[2], instance=sys.argv[3], topics=topics, idle_timeout_ms=1000),
              interactive=False, max_seconds=150, progress_every_s=1)
"""


def start_processor(bootstrap: str, group_id: str, topics: Topics, log: Path, instance: str = "0") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROCESSOR_SCRIPT, bootstrap, group_id, instance, *topics.all()],
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


def emitted(log: Path) -> int:
    """The last `candles=N` a processor printed (a progress line every second)."""
    counts = re.findall(r"candles=(\d+)", log.read_text()) if log.exists() else []
    return int(counts[-1]) if counts else 0


def wait_until_emitting(log: Path, proc: subprocess.Popen, timeout_s: float = 90.0) -> None:
    """Event-driven, not sleep-driven: a loaded machine can take many seconds to start a processor."""
    deadline = time.monotonic() + timeout_s
    while emitted(log) == 0:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no candle from the processor within {timeout_s:g} s"
        time.sleep(0.2)


def feed(bootstrap: str, topic: str, seed: int) -> tuple[TradeGenerator, threading.Thread]:
    """A trade generator in a thread, running until stopped."""
    generator = TradeGenerator(lab_config.load(bootstrap_servers=bootstrap), topic=topic, rate_hz=300, seed=seed)
    thread = threading.Thread(target=run_loop, args=(generator, Bounds(max_seconds=180)), daemon=True)
    thread.start()
    return generator, thread


def expected_and_emitted(bootstrap: str, topics: Topics, generator: TradeGenerator) -> tuple[list, list]:
    """Candles recomputed from every trade in the topic, and the candles the processors wrote."""
    assert generator.counters["acked"] == generator.counters["produced"] > 1000
    trades = [serde.decode(m.value(), m.headers())
              for m in read_topic(bootstrap, topics.trades, generator.counters["acked"], settle_s=0.5)]
    assert len(trades) == generator.counters["acked"]
    expected = candles_of(trades)
    candles = [serde.decode(m.value(), m.headers())
               for m in read_topic(bootstrap, topics.candles, len(expected), timeout_s=90)]
    return expected, candles


@pytest.mark.slow
def test_kill_9_and_restart_gives_every_candle_exactly_once(bootstrap, topics, group_id, tmp_path):
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_processor(bootstrap, group_id, topics, first_log)
    second = None
    generator, feeding = feed(bootstrap, topics.trades, seed=3)
    try:
        wait_until_emitting(first_log, first)
        time.sleep(random.uniform(0.2, 1.0))  # mid-stream: windows open, transactions going on
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_processor(bootstrap, group_id, topics, second_log)
        wait_until_emitting(second_log, second)
        time.sleep(2)
        generator.stop()
        feeding.join(60)
        expected, candles = expected_and_emitted(bootstrap, topics, generator)
        second.send_signal(signal.SIGTERM)  # and a clean stop exits 0
        assert second.wait(60) == 0, second_log.read_text()[-3000:]
    finally:
        generator.stop()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == -signal.SIGKILL
    assert "SIGTERM received, stopping cleanly" in second_log.read_text()
    assert_same_candles(candles, expected)


@pytest.mark.slow
def test_rebalances_between_two_instances_lose_and_double_nothing(bootstrap, topics, group_id, tmp_path):
    """Instance 1 joins mid-stream (partitions move), later stops (they move back after
    its session times out): every candle exactly once."""
    logs = [tmp_path / "instance0.log", tmp_path / "instance1.log"]
    one = start_processor(bootstrap, group_id, topics, logs[0], "0")
    two = None
    generator, feeding = feed(bootstrap, topics.trades, seed=4)
    try:
        wait_until_emitting(logs[0], one)
        two = start_processor(bootstrap, group_id, topics, logs[1], "1")
        wait_until_emitting(logs[1], two)
        two.send_signal(signal.SIGTERM)
        assert two.wait(60) == 0, logs[1].read_text()[-3000:]
        time.sleep(2)
        generator.stop()
        feeding.join(60)
        expected, candles = expected_and_emitted(bootstrap, topics, generator)
    finally:
        generator.stop()
        for proc in (one, two):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    assert_same_candles(candles, expected)
