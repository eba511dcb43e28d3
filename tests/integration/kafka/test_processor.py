"""MarketProcessor on a real cluster: results equal the windows recomputed from the inputs; late and bad input
go to dead-letters; kill -9 and restart gives no duplicate and no missing candle."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from kafkalab.transports.kafka import clients
from kafkalab import config as lab_config
from kafkalab.core import serde
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.deadletters import H_REASON
from kafkalab.core.market import MarketSimulator
from kafkalab.transports.kafka.generator import TradeGenerator
from kafkalab.core.models import now_us
from kafkalab.transports.kafka.processor import MarketProcessor, Topics, decode_metadata

from helpers import Raw, assert_match, book_features_from_books, candles_from_trades, decoded, produce, read_topic, wait_for

pytestmark = pytest.mark.timeout(240)
S = 1_000_000


@pytest.fixture
def topics(new_topic) -> Topics:
    return Topics(new_topic(3, prefix="tr"), new_topic(3, prefix="ob"), new_topic(3, prefix="ca"),
                  new_topic(3, prefix="bf"), new_topic(1, prefix="dl"))


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
    produce(bootstrap, topics.trades, produced_order + late, "msgpack")
    produce(bootstrap, topics.orderbooks, books, "msgpack")
    value, headers = serde.encode(trades[0], "json")  # garbage: not ours, and a valid trade in the wrong topic
    produce(bootstrap, topics.trades, [Raw(b"\x00not a record", key=b"AAPL"),
                                       Raw(value, headers, b"AAPL", topic=topics.orderbooks)])

    expected_candles, expected_features = candles_from_trades(trades), book_features_from_books(books)
    config = lab_config.load(bootstrap_servers=bootstrap)
    processor = MarketProcessor(config, group_id=group_id, topics=topics, idle_timeout_ms=500)
    done = lambda: (processor.counters["candles"] >= len(expected_candles)
                    and processor.counters["book_features"] >= len(expected_features)
                    and processor.counters["dead_letters"] >= 4)
    watcher = threading.Thread(target=lambda: (wait_for(done, 90, "every window"), processor.stop()), daemon=True)
    watcher.start()
    counters = run_loop(processor, Bounds(max_seconds=120))

    assert counters["late"] == 2 and counters["dead_letters"] == 4
    assert counters["consumed"] == len(trades) + len(late) + len(books) + 2
    assert_match(decoded(read_topic(bootstrap, topics.candles, len(expected_candles))), expected_candles, "candle")
    assert_match(decoded(read_topic(bootstrap, topics.book_features, len(expected_features))), expected_features,
                 "book-features window")

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


def wait_until_emitting(log: Path, proc: subprocess.Popen, more_than: int = 0, timeout_s: float = 90.0) -> None:
    """Until the processor reports more than `more_than` candles. Event-driven, not sleep-driven:
    a loaded machine can take many seconds to start a processor."""
    def emitting() -> bool:
        assert proc.poll() is None, log.read_text()[-3000:]
        return emitted(log) > more_than
    wait_for(emitting, timeout_s, f"more than {more_than} candles from the processor ({log.name})", step_s=0.2)


def feed(bootstrap: str, topic: str, seed: int) -> tuple[TradeGenerator, threading.Thread]:
    """A trade generator in a thread, running until stopped."""
    generator = TradeGenerator(lab_config.load(bootstrap_servers=bootstrap), topic=topic, rate_hz=300, seed=seed)
    thread = threading.Thread(target=run_loop, args=(generator, Bounds(max_seconds=180)), daemon=True)
    thread.start()
    return generator, thread


def expected_and_emitted(bootstrap: str, topics: Topics, generator: TradeGenerator) -> tuple[list, list]:
    """Candles recomputed from every trade in the topic, and the candles the processors wrote."""
    assert generator.counters["acked"] == generator.counters["produced"] > 1000
    trades = decoded(read_topic(bootstrap, topics.trades, generator.counters["acked"], settle_s=0.5))
    assert len(trades) == generator.counters["acked"]
    expected = candles_from_trades(trades)
    return expected, decoded(read_topic(bootstrap, topics.candles, len(expected), timeout_s=90))


@pytest.mark.slow
def test_kill_9_and_restart_gives_every_candle_exactly_once(bootstrap, topics, group_id, tmp_path):
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_processor(bootstrap, group_id, topics, first_log)
    second = None
    generator, feeding = feed(bootstrap, topics.trades, seed=3)
    try:
        wait_until_emitting(first_log, first)
        # mid-stream (windows open, transactions going on): a few progress lines after the first candle
        wait_until_emitting(first_log, first, more_than=emitted(first_log) + 5)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_processor(bootstrap, group_id, topics, second_log)
        wait_until_emitting(second_log, second)
        wait_until_emitting(second_log, second, more_than=emitted(second_log) + 5)  # it carries on
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
    assert_match(candles, expected, "candle")


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
        wait_until_emitting(logs[0], one, more_than=emitted(logs[0]) + 5)  # its partitions are back with one
        generator.stop()
        feeding.join(60)
        expected, candles = expected_and_emitted(bootstrap, topics, generator)
    finally:
        generator.stop()
        for proc in (one, two):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    assert_match(candles, expected, "candle")


@pytest.mark.slow
def test_a_hung_transactional_call_replaces_the_producer_and_loses_nothing(kafka_cluster, topics, group_id):
    """librdkafka has hung in send_offsets_to_transaction after an outage; here a frozen cluster
    (every broker SIGSTOPped) makes a transactional call outlive a deadline set far below its own
    timeout. The processor abandons that producer, a new one fences it, and the candles are still
    exactly the ones recomputed from the trades."""
    cluster = kafka_cluster.require_manager()
    bootstrap = kafka_cluster.bootstrap_servers
    processor = MarketProcessor(lab_config.load(bootstrap_servers=bootstrap), group_id=group_id, topics=topics,
                                idle_timeout_ms=1000)
    processing = threading.Thread(target=run_loop, args=(processor, Bounds(max_seconds=200)), daemon=True)
    processing.start()
    generator, feeding = feed(bootstrap, topics.trades, seed=5)
    try:
        wait_for(lambda: processor.counters["candles"] > 5, 90, "candles from the processor")
        patience, processor.txn.hung_after_s = processor.txn.hung_after_s, 3.0
        frozen = [node.pid for node in cluster.nodes()]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: processor.counters["producers_replaced"] >= 1, 60, "the hung producer replaced")
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
            processor.txn.hung_after_s = patience
        resumed_at = processor.counters["candles"]
        wait_for(lambda: processor.counters["candles"] > resumed_at + 5, 120, "candles after the freeze")
        generator.stop()
        feeding.join(60)
        expected, candles = expected_and_emitted(bootstrap, topics, generator)
    finally:
        generator.stop()
        processor.stop()
        processing.join(90)
    assert not processing.is_alive()
    assert_match(candles, expected, "candle")
