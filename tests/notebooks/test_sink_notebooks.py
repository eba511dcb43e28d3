"""The sink notebooks run headless under papermill with small bounds, on fresh topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.core.models import BookFeatures, Candle, Trade, now_us

from helpers import papermill, read_rows

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(240)


def produce(bootstrap: str, topic: str, records) -> None:
    with clients.producer(bootstrap) as producer:
        for record in records:
            value, headers = serde.encode(record, "json")
            producer.produce(topic, key=record.symbol.encode(), value=value, headers=headers)


def test_sink_trades_notebook(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(partitions=2), new_topic(partitions=1, prefix="dlq")
    t0 = now_us()
    produce(bootstrap, topic, [Trade("BTC", i, 100.0 + i, 1.0, "buy", t0 + i, t0 + i) for i in range(1, 26)])
    run = papermill("sink_trades_csv.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    results_dir=tmp_path, group_id=group_id, streams=f"trades={topic},dead-letters={dlq}",
                    max_messages=25, max_seconds=60)
    assert run.returncode == 0, run.stderr[-3000:]
    written = read_rows(tmp_path / "data" / "trades.csv")
    assert sorted(int(r["trade_id"]) for r in written) == list(range(1, 26))
    assert "sink-trades-csv" in (tmp_path / "out.ipynb").read_text()  # the summary line is in the output


def test_sink_candles_notebook(bootstrap, new_topic, group_id, tmp_path):
    candles, features, dlq = new_topic(3, prefix="c"), new_topic(3, prefix="f"), new_topic(1, prefix="dlq")
    t0 = now_us() - 5_000_000
    produce(bootstrap, candles, [Candle(s, t0, t0 + 1_000_000, 1.0, 2.0, 0.5, 1.5, 9.0, 1.2, 3, t0 + 1_000_000, now_us())
                                 for s in ("BTC", "ETH")])
    produce(bootstrap, features, [BookFeatures("BTC", t0, t0 + 1_000_000, 1.0, 0.1, 0.0, 2, 9, t0 + 1_000_000, now_us())])
    run = papermill("sink_candles_csv.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    results_dir=tmp_path, group_id=group_id,
                    streams=f"candles={candles},book-features={features},dead-letters={dlq}", max_messages=3, max_seconds=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(r["symbol"] for r in read_rows(tmp_path / "data" / "candles.csv")) == ["BTC", "ETH"]
    assert [r["last_sequence"] for r in read_rows(tmp_path / "data" / "book_features.csv")] == ["9"]


def test_sink_notebook_fails_with_one_line_on_a_missing_topic(bootstrap, group_id, tmp_path):
    run = papermill("sink_trades_csv.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    results_dir=tmp_path, group_id=group_id, streams="trades=no-such-topic-xyz", max_seconds=10)
    assert run.returncode != 0
    assert "no-such-topic-xyz do not exist" in run.stderr and "kafkalab topics create" in run.stderr
