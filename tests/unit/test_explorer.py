"""The cluster explorer's pure parts: lag, under-replication, how a record is shown (no Kafka)."""

from __future__ import annotations

from kafkalab.core import serde
from kafkalab.core.market import MarketSimulator
from kafkalab.explorer.cluster_view import describe_record, is_under_replicated, lag_rows


def test_lag_is_end_minus_committed_and_a_partition_without_commit_lags_by_all():
    committed = {("g", "t", 0): 5, ("g", "t", 1): -1001, ("g", "t", 2): 7}
    rows = lag_rows(committed, {("t", 0): 9, ("t", 1): 4}, {"g": "stable"})
    assert [(r["partition"], r["committed"], r["lag"]) for r in rows] == [(0, 5, 4), (1, None, 4), (2, 7, None)]
    assert {r["state"] for r in rows} == {"stable"}


def test_under_replicated_means_a_missing_in_sync_replica_or_no_leader():
    assert not is_under_replicated([1, 2, 3], [3, 1, 2], leader=1)
    assert is_under_replicated([1, 2, 3], [1, 3], leader=1)
    assert is_under_replicated([2], [], leader=-1)


def test_a_record_is_shown_decoded_from_its_headers_or_with_the_reason():
    trade = MarketSimulator(seed=1).next_trade(1_700_000_000_000_000)
    value, headers = serde.encode(trade, "avro")
    shown = describe_record(0, 7, trade.symbol.encode(), value, headers)
    assert shown["format"] == "application/avro" and shown["type"] == "trade"
    assert f"symbol={trade.symbol}" in shown["record"] and len(shown["record"]) <= 160
    broken = describe_record(0, 8, None, value[:3], headers)
    assert broken["record"].startswith("not decodable:")
    assert describe_record(0, 9, None, b"hello", None)["record"] == "hello"
