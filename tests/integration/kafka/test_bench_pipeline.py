"""`kafkalab bench pipeline --quick` runs the real pipeline and appends its table."""

from __future__ import annotations

import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.bench import run_experiment
from kafkalab.transports.kafka.clients import RELIABLE_PRODUCER

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_quick_pipeline_bench_appends_rows(bootstrap, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path))
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
