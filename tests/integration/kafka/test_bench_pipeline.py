"""`kafkalab bench pipeline --quick` runs the real pipeline and appends its table."""

from __future__ import annotations

import os
from dataclasses import replace

import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.bench import run_experiment
from kafkalab.bench.pipeline_rows import CPU_COLUMNS
from kafkalab.transports.kafka.clients import RELIABLE_PRODUCER

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_quick_pipeline_bench_appends_rows(kafka_cluster, tmp_path):
    config = lab_config.load(bootstrap_servers=kafka_cluster.bootstrap_servers, results_dir=str(tmp_path))
    if kafka_cluster.manager is not None:  # the session's own cluster: its brokers are local processes to sample
        config = replace(config, cluster=kafka_cluster.manager.config)
    assert run_experiment(config, "pipeline", quick=True) == 0
    table = pd.read_csv(tmp_path / "bench" / "pipeline.csv")
    loads = table[table.kind == "load"]
    assert list(loads.offered_hz) == [10, 10, 200]
    # batching first, then what the generator picks by itself: send at once at 10/s, batch at 200/s
    assert list(loads.producer_linger_ms) == [RELIABLE_PRODUCER["linger.ms"], 0, RELIABLE_PRODUCER["linger.ms"]]
    assert (loads.trades > 0).all() and (loads.trades_p50_ms > 0).all()
    assert (loads.trades_p50_ms <= loads.trades_p99_ms).all()
    assert (loads.achieved_hz > 0).all() and loads.machine_cores.notna().all()
    assert (loads.trades_not_in_csv == 0).all()
    summary = table[table.kind == "max_sustained"]
    assert len(summary) == 1
    # the summary is the best sustained load's achieved rate; 10 trades/s is sustained even on a busy machine
    assert loads[loads.offered_hz == 10].sustained.all(), loads[["offered_hz", "sustained", "sink_lag_slope_per_s"]]
    assert summary.max_sustained_hz.iloc[0] == loads[loads.sustained].achieved_hz.max() >= 9.0
    # where the CPU went: every load had a steady window, the consumers worked in it, and the total
    # stays within the machine's cores (sampling slack aside)
    assert set(CPU_COLUMNS) <= set(loads.columns)
    cpu = loads[list(CPU_COLUMNS)]
    assert cpu.cpu_window_s.notna().all() and (cpu.cpu_pct_total > 0).all(), cpu
    assert (cpu.cpu_pct_trades_sink > 0).all() and (cpu.cpu_pct_market_processor > 0).all(), cpu
    assert (cpu.cpu_pct_total <= os.cpu_count() * 100 * 1.2).all(), cpu
    assert (cpu.cpu_us_per_trade > 0).all() and (cpu.cpu_bound_hz > 0).all(), cpu
    if kafka_cluster.manager is not None:
        assert (cpu.cpu_pct_brokers > 0).all(), cpu
