"""Pure parts of the benchmarks: parsing the Java tools' output, the figures the report explains."""

from __future__ import annotations

import pandas as pd
import pytest

from kafkalab.bench.deepdives.keys import computed_partition
from kafkalab.bench.deepdives.offsets import compare_rows
from kafkalab.bench.deepdives.rebalance import RebalancePlan, _changes, _Log
from kafkalab.bench.explain.clients import explain_producer, producer_figures
from kafkalab.bench.explain.deepdives import keys_figures
from kafkalab.bench.explain.scaling import scaling_figures
from kafkalab.bench.harness import latency_percentiles, mb_per_s
from kafkalab.bench.javatools import JavaToolError, parse_consumer_summary, parse_producer_summary
from kafkalab.bench.producer.cells import Budget, Cell, JavaPacer
from kafkalab.bench.replication import _longest_stall

PRODUCER_OUT = """\
Warmup first 50000 records. Steady state results will print after the complete test summary.
149265 records sent, 29853.0 records/sec (2.85 MB/sec), 1018.1 ms avg latency, 1616.0 ms max latency.
300000 records sent, 73493.385595 records/sec (7.01 MB/sec), 38.37 ms avg latency, 1872.00 ms max latency, 35 ms 50th, 68 ms 95th, 90 ms 99th, 131 ms 99.9th.
250000 steady state records sent, 147492.625369 records/sec (14.07 MB/sec), 37.00 ms avg latency, 91.00 ms max latency, 35 ms 50th, 63 ms 95th, 76 ms 99th, 90 ms 99.9th.
"""

CONSUMER_OUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-24 19:36:53:546, 2026-11-24 19:36:56:331, 57.2205, 20.5459, 600000, 215439.8564, 1549, 1236, 46.2949, 485436.8932
"""


def test_producer_summary_prefers_the_steady_state_line():
    result = parse_producer_summary(PRODUCER_OUT)
    assert result.records == 250000
    assert result.records_per_s == pytest.approx(147492.625369)
    assert (result.latency_p50_ms, result.latency_p95_ms, result.latency_p99_ms) == (35, 63, 76)


def test_producer_summary_without_warmup_uses_the_total_line():
    result = parse_producer_summary(PRODUCER_OUT.split("\n")[2])
    assert result.records == 300000 and result.mb_per_s == pytest.approx(7.01)


def test_consumer_summary_reads_the_fetch_rate():
    result = parse_consumer_summary(CONSUMER_OUT)
    assert result.records == 600000
    assert result.fetch_records_per_s == pytest.approx(485436.8932)
    assert result.rebalance_ms == 1549 and result.fetch_ms == 1236


@pytest.mark.parametrize("parse", [parse_producer_summary, parse_consumer_summary])
def test_missing_summary_is_a_clear_error(parse):
    with pytest.raises(JavaToolError, match="printed no summary"):
        parse("Exception in thread main: org.apache.kafka.common.errors.TimeoutException\n")


def test_cells_spell_the_same_settings_for_every_client():
    cell = Cell(1024, "1", "on", "zstd")
    assert cell.java_props() == {"acks": "1", "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "zstd",
                                 "enable.idempotence": "false"}
    assert cell.confluent_config()["enable.idempotence"] is False
    assert cell.confluent_config()["queue.buffering.max.kbytes"] == 32 * 1024  # Java's buffer.memory
    kp = cell.kafka_python_config()
    assert (kp["acks"], kp["linger_ms"], kp["batch_size"], kp["compression_type"]) == (1, 20, 1_000_000, "zstd")
    assert Cell(100, "all", "off", "none").kafka_python_config()["compression_type"] is None
    defaults = Cell(100, batching="default", compression="default")
    assert defaults.java_props() == {} and defaults.kafka_python_config() == {}


def test_java_pacer_uses_javas_own_previous_rate():
    pacer, cell = JavaPacer(), Cell(100, "all", "off", "none")
    assert pacer.expected_rate(cell, 50_000) == 50_000
    pacer.note(cell, 4_000)
    assert pacer.expected_rate(Cell(100, "all", "off", "lz4"), 50_000) == 6_000
    budget = Budget(max_records=100_000, seconds=3, warmup_seconds=0.5, java_seconds=3, java_min=10_000)
    assert budget.java_records(6_000) == 18_000
    assert budget.java_records(1) == 10_000 and budget.java_records(10**9) == 100_000


def test_latency_percentiles_and_rates():
    p = latency_percentiles(list(range(1, 101)))
    assert p["latency_p50_ms"] == pytest.approx(50.5) and p["latency_p99_ms"] == pytest.approx(99.01)
    assert latency_percentiles([])["latency_p50_ms"] is None
    assert mb_per_s(1024, 1024, 1.0) == 1.0  # MiB/s
    assert mb_per_s(10, 100, 0.0) == 0.0


def test_computed_partitions_follow_each_clients_hash():
    import zlib

    assert computed_partition(b"AAPL", 6, "consistent_random") == zlib.crc32(b"AAPL") % 6
    # murmur2 test vector from Kafka's own UtilsTest: murmur2("21") = -973932308
    from kafka.partitioner.default import murmur2

    assert murmur2(b"21") & 0xFFFFFFFF == -973932308 & 0xFFFFFFFF
    assert computed_partition(b"21", 6, "murmur2_random") == (-973932308 & 0x7FFFFFFF) % 6


def test_compare_rows_finds_missing_and_changed_rows():
    a = pd.DataFrame({"kafka_partition": [0, 0, 1], "kafka_offset": [0, 1, 0], "price": ["1", "2", "3"]})
    assert compare_rows(a, a.copy()) == (True, 0)
    assert compare_rows(a, a.iloc[:2]) == (False, 1)
    changed = a.copy()
    changed.loc[1, "price"] = "9"
    assert compare_rows(a, changed) == (False, 2)
    assert compare_rows(a.iloc[0:0], a.iloc[0:0]) == (True, 0)


def test_rebalance_changes_measure_pauses_and_moves():
    log = _Log(0.0)
    # partition 0: c1 reads every 0.1 s until 1.0, nobody until 2.0, then c2; partition 1: c1 throughout.
    log.consumed += [(t / 10, 0, "c1", t, 5.0) for t in range(0, 10)]
    log.consumed += [(2.0 + t / 10, 0, "c2", 100 + t, 900.0) for t in range(0, 10)]
    log.consumed += [(t / 10, 1, "c1", 200 + t, 5.0) for t in range(0, 30)]
    plan = RebalancePlan(("x",), 1.0, ((0, "c1", "join"), (1, "c2", "join"), (2, "c2", "leave")))
    rows = _changes("x", log, plan, total=3.0)
    join = rows[0]
    assert join["change"] == "c2 joins" and join["t_s"] == 1.0
    assert join["stalled_partitions"] == 1 and join["max_pause_s"] == pytest.approx(1.1)
    assert join["duplicates"] == 0


def test_longest_stall_counts_seconds_without_acks():
    assert _longest_stall({0: 5, 1: 0, 2: 0, 4: 3}, 6) == 3  # seconds 1-3 (a missing second had no ack)
    assert _longest_stall({0: 1, 1: 1}, 2) == 0


def test_producer_figures_and_goal():
    rows = pd.DataFrame([
        {"cell": "100B-acks_all-batch_on-none", "client": "java", "variant": "grid", "record_bytes": 100,
         "acks": "all", "batching": "on", "compression": "none", "records_per_s": 200_000, "ratio_to_java": 1.0},
        {"cell": "100B-acks_all-batch_on-none", "client": "confluent-kafka", "variant": "grid", "record_bytes": 100,
         "acks": "all", "batching": "on", "compression": "none", "records_per_s": 150_000, "ratio_to_java": 0.75},
        {"cell": "100B-acks_all-batch_on-none", "client": "kafka-python", "variant": "grid", "record_bytes": 100,
         "acks": "all", "batching": "on", "compression": "none", "records_per_s": 40_000, "ratio_to_java": 0.2},
        {"cell": "100B-defaults", "client": "kafka-python", "variant": "defaults", "record_bytes": 100,
         "acks": "default", "batching": "default", "compression": "default", "records_per_s": 10_000,
         "ratio_to_java": 0.1},
        {"cell": "100B-defaults", "client": "kafka-python", "variant": "tuned", "record_bytes": 100,
         "acks": "all", "batching": "on", "compression": "lz4", "records_per_s": 30_000, "ratio_to_java": 0.3},
    ])
    f = producer_figures(rows)
    assert f["java_best"]["records_per_s"] == 200_000
    assert f["python_best"]["confluent-kafka"]["ratio_to_java_best"] == pytest.approx(0.75)
    assert f["kafka_python_tuned_factor"] == pytest.approx(3.0)  # the back-to-back pair, not the grid
    assert f["kafka_python_best_grid_vs_defaults"] == pytest.approx(4.0)
    text = explain_producer(rows)
    assert "met" in text and "3×" in text and "200,000" in text


def test_scaling_figures_find_where_instances_stop_helping():
    rows = pd.DataFrame({"cell": ["p6-i1", "p6-i2", "p6-i3", "p6-i6", "p3-i1", "p3-i2", "p3-i3", "p1-i1", "p1-i2"],
                         "partitions": [6, 6, 6, 6, 3, 3, 3, 1, 1], "instances": [1, 2, 3, 6, 1, 2, 3, 1, 2],
                         "busy_instances": [1, 2, 3, 6, 1, 2, 3, 1, 1],
                         "records_per_s": [10_000, 18_000, 18_500, 18_200, 9_000, 9_500, 20_000, 9_000, 9_100]})
    f = scaling_figures(rows)
    assert f["per_partitions"][6]["no_gain_from"] == 3
    assert f["per_partitions"][3]["no_gain_from"] is None  # 2 did not help, but 3 did
    assert f["per_partitions"][1]["no_gain_from"] == 2
    assert f["best_vs_single"] == pytest.approx(20_000 / 9_000)
    assert f["idle_cells"] == ["p1-i2"]


def test_keys_figures_imbalance():
    rows = pd.DataFrame({"scenario": ["s"] * 3, "partitioner": ["m"] * 3, "partition": [0, 1, 2],
                         "records": [50, 50, 0], "share": [0.5, 0.5, 0.0], "max_partitions_per_symbol": [1, 1, 1]})
    f = keys_figures(rows)[("s", "m")]
    assert f["imbalance"] == pytest.approx(1.5) and f["empty_partitions"] == 1


def test_every_experiment_module_imports():
    # `kafkalab bench <name>` imports its module only when asked: a name it imports from a module
    # that was renamed would otherwise surface in the middle of `make run`.
    import importlib

    from kafkalab.bench import EXPERIMENTS

    for name, module in EXPERIMENTS.items():
        assert callable(importlib.import_module(f"kafkalab.bench.{module}").run), name


def test_the_streams_latency_leaves_out_the_warm_up_and_the_windows_the_idle_rule_closes():
    import numpy as np

    from kafkalab.bench.pipeline_rows import WARMUP_S, LoadResult
    from kafkalab.bench.streams import TAIL_US, closed_by_trades

    start, s = 1_700_000_000_000_000, 1_000_000
    trades = pd.DataFrame({"produced_ts_us": [start, start + 10 * s], "event_ts_us": [start, start + 10 * s]})
    ends = [start + k * s for k in range(1, 11)]
    candles = pd.DataFrame({"window_end_us": ends})
    result = LoadResult(10, 10, 10, trades, candles, np.zeros((1, 2)), np.zeros((1, 2)), 0.0, {})
    kept = closed_by_trades(result)["window_end_us"]
    assert kept.min() >= start + WARMUP_S * s and kept.max() <= start + 10 * s - TAIL_US
    assert list(kept) == ends[:8]  # the windows ending at 9 and 10 s: closed by the idle rule


def test_the_cpu_columns_add_up_every_process_and_divide_by_the_trades_of_the_window():
    from kafkalab.bench.pipeline_rows import BROKERS, CPU_COLUMNS, CpuWindow, cpu_columns

    percent = {"trade-generator": 20.0, "orderbook-generator": 5.0, "market-processor": 40.0, "trades-sink": 30.0,
               "candles-sink": 5.0, BROKERS: 60.0}
    columns = cpu_columns(CpuWindow(seconds=4.0, percent=percent, trades=8_000, cores=2))
    assert set(columns) == set(CPU_COLUMNS)
    assert (columns["cpu_pct_market_processor"], columns["cpu_pct_brokers"], columns["cpu_pct_total"]) == (40, 60, 160)
    # 1.6 cores for 4 s = 6.4 CPU-seconds for 8,000 trades: 800 µs each; 2 cores carry 2,500 of those a second
    assert (columns["cpu_window_s"], columns["cpu_us_per_trade"], columns["cpu_bound_hz"]) == (4.0, 800.0, 2_500)


def test_the_cpu_columns_stay_empty_where_nothing_was_measured():
    from kafkalab.bench.pipeline_rows import CpuWindow, cpu_columns

    assert set(cpu_columns(None).values()) == {None}
    # brokers elsewhere: no broker column, the total is the components'; no trades: no cost per trade
    columns = cpu_columns(CpuWindow(2.0, {"trades-sink": 30.0, "market-processor": None}, trades=0, cores=2))
    assert (columns["cpu_pct_trades_sink"], columns["cpu_pct_total"], columns["cpu_window_s"]) == (30.0, 30.0, 2.0)
    assert columns["cpu_pct_brokers"] is columns["cpu_pct_market_processor"] is columns["cpu_us_per_trade"] is None
    assert columns["cpu_bound_hz"] is None


def test_a_load_row_carries_its_cpu_columns():
    import numpy as np

    from kafkalab.bench.pipeline_rows import CpuWindow, LoadResult, row_for

    s = 1_000_000
    trades = pd.DataFrame({"produced_ts_us": [0, 2 * s], "written_ts_us": [1_000, 2 * s + 1_000]})
    candles = pd.DataFrame({"window_end_us": [2 * s], "written_ts_us": [2 * s + 500_000]})
    lag = np.zeros((4, 2))
    window = CpuWindow(1.0, {"trades-sink": 50.0}, trades=1, cores=2)
    row = row_for(LoadResult(1, 2, 1, trades, candles, lag, lag, 0.0, {}, 0, 2, window), {}, {})
    assert (row["cpu_pct_trades_sink"], row["cpu_us_per_trade"], row["cpu_bound_hz"]) == (50.0, 500_000.0, 4)
    assert row_for(LoadResult(1, 2, 1, trades, candles, lag, lag, 0.0, {}), {}, {})["cpu_pct_total"] is None
