"""kill -9 of a sink or the processor mid-run, then a restart: the run goes on, and the
trades lost equal the gaps the consumers counted (measured from the files, not guessed)."""

from __future__ import annotations

import time

from kafkalab.transports.zeromq.generator import ZmqOrderBookGenerator, ZmqTradeGenerator
from kafkalab.transports.zeromq.sink import candles_sink, trades_sink
from kafkalab.transports.zeromq.stats import STATS_CSV

from helpers import read_rows, wait_for
from tests.integration.zeromq.conftest import complete_lines, last_sequence
from tests.integration.zeromq.pipeline import assert_candle_matches, candles_by_window, recomputed_candles


def test_trades_sink_killed_and_restarted_loses_exactly_the_gaps_it_counts(lab, zmq_settings, running, spawn):
    csv_path = lab.data_dir / "trades.csv"
    sink = spawn("trades-sink")
    generator = running(ZmqTradeGenerator(lab, rate_hz=200, zmq_settings=zmq_settings, subscribers=1))
    wait_for(lambda: len(complete_lines(csv_path)) >= 200, 60, "the first sink to write")
    sink.kill()
    killed_at = generator.component.counters["produced"]
    wait_for(lambda: generator.component.counters["produced"] >= killed_at + 200, 60, "trades sent while it is down")
    restarted = spawn("trades-sink")
    restarted_at = generator.component.counters["produced"]
    wait_for(lambda: last_sequence(csv_path) > restarted_at, 60, "the restarted sink to write")
    generator.stop()
    produced = generator.component.counters["produced"]
    wait_for(lambda: last_sequence(csv_path) == produced, 60, "the restarted sink to catch up")
    output = restarted.stop()

    positions = [row["position"] for row in read_rows(csv_path)]
    assert len(positions) == len(set(positions)), "a trade was written twice"
    lost = produced - len(positions)
    stats = [row for row in read_rows(lab.data_dir / STATS_CSV) if row["component"] == "trades-sink"]
    assert len(stats) == 1, stats  # the killed sink wrote none
    assert lost > 0 and int(stats[0]["gaps"]) == lost, (lost, stats, output)
    assert f"gaps {lost}," in output
    print(f"trades sink kill: {produced} trades sent, {lost} lost, {stats[0]['gaps']} gaps counted")


def test_processor_killed_and_restarted_counts_every_trade_no_candle_holds(lab, zmq_settings, running, spawn):
    sinks = [running(trades_sink(lab, zmq_settings=zmq_settings)), running(candles_sink(lab, zmq_settings=zmq_settings))]
    processor = spawn("market-processor")
    candles_csv, trades_csv = lab.data_dir / "candles.csv", lab.data_dir / "trades.csv"
    generators = [running(ZmqTradeGenerator(lab, rate_hz=100, zmq_settings=zmq_settings)),
                  running(ZmqOrderBookGenerator(lab, rate_hz=4, zmq_settings=zmq_settings))]
    wait_for(lambda: len(complete_lines(candles_csv)) >= 6, 60, "candles from the first processor")
    # Windows close when event time passes their end + 500 ms, i.e. just after each x.5 s: kill
    # half a second away from that, not in the instant between a send and its socket write
    # (the one loss no sequence can show: the last messages of a producer that died).
    wait_for(lambda: abs(time.time() % 1.0 - 0.5) > 0.45, 10, "a moment between window closes")
    processor.kill()
    sent = len(complete_lines(trades_csv))
    wait_for(lambda: len(complete_lines(trades_csv)) >= sent + 100, 60, "trades sent while it is down")
    restarted = spawn("market-processor")
    wait_for(lambda: len(producers_in(candles_csv)) == 2 and len(complete_lines(candles_csv)) >= 12, 90,
             "candles from the restarted processor")
    for generator in generators:
        generator.stop()
    trades_sent = generators[0].component.counters["produced"]
    wait_for(lambda: sinks[0].component.counters["written"] >= trades_sent, 60, "every trade in trades.csv")
    expected = recomputed_candles(lab.data_dir)
    last_windows = {}
    for symbol, start in expected:
        last_windows[symbol] = max(start, last_windows.get(symbol, start))
    wait_for(lambda: all((s, w) in candles_by_window(candles_csv) for s, w in last_windows.items()), 60,
             "the last windows' candles (idle rule)")
    restarted.stop()
    for sink in sinks:
        sink.stop()

    written = candles_by_window(candles_csv)
    for window, row in written.items():
        assert_candle_matches(row, expected[window])  # what was emitted is complete
    lost = sum(candle.trade_count for window, candle in expected.items() if window not in written)
    stats = [r for r in read_rows(lab.data_dir / STATS_CSV) if r["component"] == "market-processor"
             and r["stream"] == "trades"]
    assert len(stats) == 1, stats
    counted = int(stats[0]["gaps"]) + int(stats[0]["discarded"])
    print(f"processor kill: {trades_sent} trades sent, {lost} in no candle; counted gaps {stats[0]['gaps']} "
          f"+ discarded {stats[0]['discarded']}")
    assert int(stats[0]["gaps"]) > 0 and lost == counted, (lost, stats)
    assert sinks[0].component.counters["gaps"] == 0


def producers_in(path) -> set[str]:
    return {line.rpartition(",")[2].rpartition(":")[0] for line in complete_lines(path)}
