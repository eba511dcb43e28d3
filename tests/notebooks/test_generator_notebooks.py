"""The generator and processor notebooks run headless under papermill with small bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.core.market import MarketSimulator
from kafkalab.core.models import now_us
from kafkalab.core.windowing import candles_of

from helpers import papermill, read_rows

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(240)


def read_all(bootstrap: str, topic: str) -> list:
    with clients.consumer(bootstrap, f"nb-reader-{now_us()}") as consumer:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records, idle = [], 0
        while idle < 10:  # stop after ~2 s without records
            batch = [m for m in consumer.consume(500, 0.2) if m.error() is None]
            records += batch
            idle = 0 if batch else idle + 1
        return records


def test_trade_generator_notebook(bootstrap, new_topic, tmp_path):
    topic = new_topic(3)
    run = papermill("generator_trades.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    results_dir=tmp_path, streams=f"trades={topic}", rate_hz=100, max_messages=40, max_seconds=60,
                    serializer="avro", acked_csv="acked.csv", producer_settings="linger.ms=0,compression.type=zstd")
    assert run.returncode == 0, run.stderr[-3000:]
    records = read_all(bootstrap, topic)
    trades = [serde.decode(m.value(), m.headers()) for m in records]
    assert len(trades) == 40 and all(m.key().decode() == t.symbol for m, t in zip(records, trades))
    acked = read_rows(tmp_path / "data" / "acked.csv")
    assert {(r["transport"], r["position"]) for r in acked} == {("kafka", f"{m.partition()}:{m.offset()}") for m in records}
    assert "reached" in (tmp_path / "out.ipynb").read_text()  # the summary is in the executed notebook


def test_orderbook_generator_notebook(bootstrap, new_topic, tmp_path):
    topic = new_topic(3)
    run = papermill("generator_orderbook.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    streams=f"orderbooks={topic}", rate_hz=20, max_messages=12, max_seconds=60, symbols="AAPL,TSLA")
    assert run.returncode == 0, run.stderr[-3000:]
    books = [serde.decode(m.value(), m.headers()) for m in read_all(bootstrap, topic)]
    assert len(books) == 12 and {b.symbol for b in books} == {"AAPL", "TSLA"}
    assert sorted(b.sequence for b in books if b.symbol == "AAPL") == list(range(1, 7))


def test_processor_notebook(bootstrap, new_topic, group_id, tmp_path):
    names = {"trades": new_topic(3, prefix="tr"), "orderbooks": new_topic(3, prefix="ob"),
             "candles": new_topic(3, prefix="ca"), "book-features": new_topic(3, prefix="bf"),
             "dead-letters": new_topic(1, prefix="dl")}
    sim = MarketSimulator(seed=1)
    base = now_us() - 20_000_000
    trades = [sim.next_trade(base + i * 20_000) for i in range(150)]
    books = [sim.next_book(base + i * 200_000) for i in range(15)]
    with clients.producer(bootstrap) as producer:
        for topic, records in ((names["trades"], trades), (names["orderbooks"], books)):
            for record in records:
                value, headers = serde.encode(record, "json")
                producer.produce(topic, key=record.symbol.encode(), value=value, headers=headers)
    run = papermill("processor_market.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    group_id=group_id, idle_timeout_ms=300, max_seconds=12,
                    streams=",".join(f"{stream}={topic}" for stream, topic in names.items()))
    assert run.returncode == 0, run.stderr[-3000:]
    candles = [serde.decode(m.value(), m.headers()) for m in read_all(bootstrap, names["candles"])]
    expected = candles_of(trades)
    assert sorted((c.symbol, c.window_start_us, c.trade_count) for c in candles) == \
           [(c.symbol, c.window_start_us, c.trade_count) for c in expected]
    assert read_all(bootstrap, names["book-features"])


def test_generator_notebook_fails_with_one_line_on_a_bad_serializer(bootstrap, new_topic, tmp_path):
    run = papermill("generator_trades.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    streams=f"trades={new_topic(1)}", serializer="xml", max_messages=5)
    assert run.returncode != 0
    assert "unknown serializer 'xml'; choose one of json, msgpack, avro" in run.stderr


@pytest.mark.parametrize("settings, words", [
    ("linger.ms", "producer_settings must be comma-separated name=value"),
    ("no.such.setting=1", "No such configuration property: \"no.such.setting\""),
])
def test_generator_notebook_fails_with_one_line_on_bad_producer_settings(bootstrap, new_topic, tmp_path,
                                                                         settings, words):
    run = papermill("generator_trades.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    streams=f"trades={new_topic(1)}", producer_settings=settings, max_messages=5)
    assert run.returncode != 0
    assert words in run.stderr, run.stderr[-2000:]
