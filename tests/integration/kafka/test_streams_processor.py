"""The market processor in Kafka Streams (issue 18), end to end: the whole pipeline for a short run with
`engine=streams` (what `kafkalab run --processor streams` sets), on fresh topics.

The checks are the Python processor's (test_pipeline.check_outputs: every acknowledged trade stored once,
every closed window's candle equal to the one recomputed from trades.csv, every group drained), plus the
full oracle on candles (VWAP too) and on book features, recomputed from the order books on the topic.
"""

from __future__ import annotations


import pandas as pd
import pytest

from helpers import assert_match, book_features_from_books, candles_from_trades, read_rows, read_topic
from kafkalab.core import serde
from kafkalab.core.windowing import BookFeaturesBuilder, CandleBuilder, Outcome, PartitionWindows
from kafkalab import config as lab_config
from kafkalab.pipeline.plan import private_plan
from kafkalab.pipeline.runner import run_plan
from kafkalab.runtime.params import MARKET_PROCESSOR, TRADE_GENERATOR
from kafkalab.transports.kafka.streams_app import ensure_built
from tests.integration.kafka.test_pipeline import check_outputs

SECONDS = 20.0  # as test_pipeline.check_outputs expects (>= SECONDS / 2 book-features rows)
# The oracle of late records has no idle rule: a generator stalled for seconds on a loaded machine must
# not count as input that stopped (the app cannot see end offsets, the Python processor can).
IDLE_MS = 10_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def python_late(messages, builder) -> set[tuple[str, int, int]]:
    """The records the Python processor's windows would call late (no idle rule: input was flowing)."""
    late, windows = set(), {}
    for m in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        part = windows.setdefault(m.partition(), PartitionWindows(builder))
        record = serde.decode(m.value(), m.headers())
        if part.add(record.symbol, record.event_ts_us, m.offset(), record, 0) is Outcome.LATE:
            late.add((m.topic(), m.partition(), m.offset()))
    return late


def test_the_pipeline_with_the_kafka_streams_processor(bootstrap, tag, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    ensure_built(config)  # the first build may fetch from Maven Central: before the run's clock starts
    acked = tmp_path / "acked.csv"
    plan = private_plan(tag, SECONDS, overrides={TRADE_GENERATOR: {"acked_csv": str(acked)},
                                                MARKET_PROCESSOR: {"engine": "streams", "idle_timeout_ms": IDLE_MS}})
    said: list[str] = []
    assert run_plan(config, plan, echo=said.append, show_progress=False) == 0, said
    trades = check_outputs(config, plan, acked, bootstrap)

    candles = read_rows(config.data_dir / "candles.csv")
    assert_match(candles, candles_from_trades(read_rows(config.data_dir / "trades.csv")), "candle")
    # Late records: the ones the Streams app dead-lettered as late are exactly those the Python windows
    # (kafkalab.core.windowing, fed each partition in offset order) call late; the oracle leaves them out.
    streams = plan.shared_params
    dead = [dict(m.headers()) for m in read_topic(bootstrap, streams.stream("dead-letters"), 0)]
    assert all(h["dlq.reason"].startswith(b"late:") for h in dead), "only late records are dead letters here"
    late = {(h["dlq.topic"].decode(), int(h["dlq.partition"]), int(h["dlq.offset"])) for h in dead}
    book_messages = read_topic(bootstrap, streams.stream("orderbooks"), expect=1, settle_s=3.0)
    trade_messages = read_topic(bootstrap, streams.stream("trades"), expect=1, settle_s=1.0)
    assert late == python_late(book_messages, BookFeaturesBuilder) | python_late(trade_messages, CandleBuilder)
    books = [serde.decode(m.value(), m.headers()) for m in book_messages
             if (m.topic(), m.partition(), m.offset()) not in late]
    features = read_rows(config.data_dir / "book_features.csv")
    assert len(books) >= SECONDS and features
    assert_match(features, book_features_from_books(books), "book-features window")
    # the app really ran: its log names the Streams states it went through, and it left its state folder
    log = (config.runs_dir / f"{tag}-market-processor-0.streams.log").read_text()
    assert "state=RUNNING" in log and "state=STOPPED" in log, log[-2000:]
    assert (config.runs_dir / "streams-state").is_dir()
    assert len(trades) == len(pd.read_csv(acked))
