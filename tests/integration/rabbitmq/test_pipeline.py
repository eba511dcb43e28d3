"""The whole application over RabbitMQ, each component its own process: outputs complete and
correct, and 0 lost / 0 duplicate rows after kill -9 of a node, the processor or a sink."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from kafkalab.core.models import Trade
from kafkalab.core.windowing import candles_of
from helpers import read_rows, wait_for
from kafkalab.core import serde
from kafkalab.transports.rabbitmq.topology import REASON_HEADER
from tests.integration.rabbitmq.helpers import Proc, dead_letters, fresh_topology, wait_drained

CONSUMERS = ("trades-sink", "market-processor", "candles-sink")
TRADE_RATE_HZ = 20


def _trades(data_dir) -> list[Trade]:
    return [Trade(r["symbol"], int(r["trade_id"]), float(r["price"]), float(r["size"]), r["side"],
                  int(r["event_ts_us"]), int(r["produced_ts_us"])) for r in read_rows(data_dir / "trades.csv")]


def run_pipeline(cluster, results_dir, seconds: float, disrupt=None) -> dict:
    """Consumers, then both generators for `seconds`; `disrupt(consumers)` runs meanwhile.
    Returns the generators' confirmed counts once every queue is drained and acked."""
    fresh_topology(cluster)
    consumers = {name: Proc(name, results_dir) for name in CONSUMERS}
    trades = Proc("trade-generator", results_dir, rate_hz=TRADE_RATE_HZ, max_seconds=seconds)
    books = Proc("orderbook-generator", results_dir, rate_hz=4, max_seconds=seconds)
    try:
        if disrupt is not None:
            wait_for(lambda: len(read_rows(results_dir / "data" / "trades.csv")) > 2 * TRADE_RATE_HZ, 120,
                     "trades flowing before the fault")
            disrupt(consumers)
        trades.wait(seconds + 240)
        books.wait(seconds + 240)
        wait_drained(CONSUMERS, timeout_s=180)
        for proc in consumers.values():
            proc.stop()
    finally:  # a failed run must not leave a consumer behind to eat the next test's messages
        for proc in [*consumers.values(), trades, books]:
            if proc.process.poll() is None:
                proc.kill()
    return {"trades_acked": trades.counter("acked"), "generator_reconnects": trades.counter("reconnects")}


def late_trades(cluster) -> set[tuple[str, int]]:
    """(symbol, trade_id) of the trades the processor dead-lettered as late (not in any candle)."""
    late = set()
    for headers, body in dead_letters(cluster):
        if headers.get("x-consumer") == "market-processor" and str(headers.get(REASON_HEADER, "")).startswith("late"):
            trade = serde.decode(body, list(headers.items()))
            late.add((trade.symbol, trade.trade_id))
    return late


def check_outputs(cluster, results_dir, trades_acked: int) -> list[Trade]:
    """Every confirmed trade stored once; every candle equal to the one recomputed from the stored
    trades, less those the processor dead-lettered as late (a republish after a node loss can
    arrive after its window closed)."""
    data = results_dir / "data"
    trades = _trades(data)
    keys = [(t.symbol, t.trade_id) for t in trades]
    assert len(keys) == len(set(keys)), "duplicate trade rows"
    assert len(trades) == trades_acked, f"{len(trades)} trade rows for {trades_acked} confirmed trades"
    candles = {(r["symbol"], int(r["window_start_us"])): r for r in read_rows(data / "candles.csv")}
    assert len(candles) == len(read_rows(data / "candles.csv")), "duplicate candle rows"
    late = late_trades(cluster)
    assert late <= set(keys), "a late dead letter that is not a stored trade"
    expected = {(c.symbol, c.window_start_us): c
                for c in candles_of([t for t in trades if (t.symbol, t.trade_id) not in late])}
    assert candles.keys() == expected.keys()
    for key, want in expected.items():
        got = candles[key]
        assert (float(got["open"]), float(got["high"]), float(got["low"]), float(got["close"]),
                int(got["trade_count"])) == (want.open, want.high, want.low, want.close, want.trade_count), key
        assert math.isclose(float(got["volume"]), want.volume) and math.isclose(float(got["vwap"]), want.vwap)
    assert all(r["transport"] == "rabbitmq" for r in read_rows(data / "candles.csv")[:5])
    assert read_rows(data / "book_features.csv"), "no book features"
    return trades


@pytest.mark.slow
def test_end_to_end_outputs_are_complete_and_correct(rabbit_cluster, tmp_path):
    result = run_pipeline(rabbit_cluster, tmp_path, seconds=8)
    trades = check_outputs(rabbit_cluster, tmp_path, result["trades_acked"])
    span_s = (trades[-1].event_ts_us - trades[0].event_ts_us) / 1e6
    assert len(trades) / max(span_s, 1e-3) >= 10, f"{len(trades)} trades in {span_s:.1f} s"


@pytest.mark.slow
def test_kill_9_of_processor_and_trades_sink_loses_and_doubles_nothing(rabbit_cluster, tmp_path):
    def crash_and_restart(consumers) -> None:
        for name in ("market-processor", "trades-sink"):
            consumers[name].kill()
        time.sleep(1.0)  # records keep arriving while they are down
        for name in ("market-processor", "trades-sink"):
            consumers[name] = Proc(name, tmp_path)

    result = run_pipeline(rabbit_cluster, tmp_path, seconds=10, disrupt=crash_and_restart)
    check_outputs(rabbit_cluster, tmp_path, result["trades_acked"])


@pytest.mark.slow
def test_kill_9_of_a_node_mid_run_loses_and_doubles_nothing(all_nodes_up, tmp_path):
    cluster = all_nodes_up

    def kill_node_1(_consumers) -> None:
        # every client connected to node 1 first: they all lose their connection
        cluster.stop_node(1, kill=True)
        before = len(read_rows(tmp_path / "data" / "trades.csv"))
        wait_for(lambda: len(read_rows(tmp_path / "data" / "trades.csv")) > before + TRADE_RATE_HZ, 120,
                   "trades written with node 1 down")
        cluster.start_node(1)

    result = run_pipeline(cluster, tmp_path, seconds=12, disrupt=kill_node_1)
    assert result["generator_reconnects"] >= 1  # the fault did reach the publisher
    check_outputs(cluster, tmp_path, result["trades_acked"])


@pytest.mark.slow
def test_two_nodes_down_writes_are_refused_with_one_line(all_nodes_up, tmp_path):
    cluster = all_nodes_up
    fresh_topology(cluster)
    cluster.stop_node(2, kill=True)
    cluster.stop_node(3, kill=True)
    done = subprocess.run([sys.executable, "-m", "kafkalab.transports.rabbitmq.components", "trade-generator",
                           f"results_dir={tmp_path}", "max_seconds=3", "rate_hz=20"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stdout[-800:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "quorum" in lines[0] and "not" in lines[0], done.stderr
