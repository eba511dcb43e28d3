"""The pipeline runner's pure parts: the plan matches the notebooks, row counting, topic renaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.bench.pipeline import (LoadResult, TailReader, end_lag, is_sustained, lag_slope, next_bisect_rate,
                                     production_rate, steady_state)
from kafkalab.pipeline.runner import (ComponentProcess, LineCounter, PipelinePlan, PipelineTopics, notebook_parameters)
from kafkalab.core.csvstore import TRADES_COLUMNS
from kafkalab.transports.kafka.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]


def test_every_parameter_the_runner_passes_exists_in_its_notebook(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    plan = PipelinePlan(seconds=5, trade_rate_hz=20, acked_csv=tmp_path / "acked.csv")
    specs = plan.components(config)
    assert {s.name for s in specs} == {"generator_trades", "generator_orderbook", "processor_market",
                                       "sink_trades_csv", "sink_candles_csv"}
    for spec in specs:
        names = notebook_parameters(ROOT / "notebooks" / f"{spec.name}.ipynb")
        assert set(spec.parameters) | {"stop_file", "interactive"} <= names, spec.name


def test_papermill_command_keeps_strings_as_strings(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    spec = next(s for s in PipelinePlan(seconds=7).components(config) if s.name == "sink_trades_csv")
    from dataclasses import replace

    args = ComponentProcess(replace(spec, parameters={**spec.parameters, "group_id": "123"}), config).command()
    assert ["-r", "group_id", "123"] == args[args.index("group_id") - 1: args.index("group_id") + 2]
    gen = next(s for s in PipelinePlan(seconds=7).components(config) if s.name == "generator_trades")
    args = ComponentProcess(gen, config).command()
    assert ["-p", "max_seconds", "7"] == args[args.index("max_seconds") - 1: args.index("max_seconds") + 2]
    assert args[args.index("stop_file") + 1].endswith("runs/generator_trades.stop")
    assert ["-p", "interactive", "False"] == args[args.index("interactive") - 1: args.index("interactive") + 2]


def test_renamed_topics_keep_the_declared_specs():
    renamed = PipelineTopics("a", "b", "c", "d", "e").specs()
    assert [s.name for s in renamed] == ["a", "b", "c", "d", "e"]
    assert [(s.partitions, s.replication_factor, s.configs) for s in renamed] == \
        [(s.partitions, s.replication_factor, s.configs) for s in TOPICS]


def test_line_counter_counts_whole_rows_incrementally(tmp_path):
    path = tmp_path / "x.csv"
    counter = LineCounter(path)
    assert counter.rows() == 0
    path.write_text("h\n1\n2")
    assert counter.rows() == 1  # "2" is not a whole line yet
    with path.open("a") as f:
        f.write("\n3\n")
    assert counter.rows() == 3
    path.write_text("h\n")  # replaced by a shorter file
    assert counter.rows() == 0


def test_lag_slope_and_sustained():
    t = np.arange(0, 20, 0.5)
    flat = np.column_stack([t, 5 + (t * 7) % 3])
    growing = np.column_stack([t, 100 * t])
    assert abs(lag_slope(flat)) < 1
    assert 99 < lag_slope(growing) < 101
    assert is_sustained(1000, lag_slope(flat), 0) and not is_sustained(1000, lag_slope(growing), 0)
    assert not is_sustained(1000, 0, 0, sink_end_lag=5000)  # flat but far behind
    assert end_lag(np.column_stack([t, t])) == pytest.approx(np.mean(t[t >= t[-1] - 2]))
    assert lag_slope(np.array([(0, 0)])) == 0.0


def test_next_bisect_rate_is_between_the_best_ok_and_the_worst_bad():
    rows = [{"achieved_hz": 1000, "sustained": True}, {"achieved_hz": 9000, "sustained": False}]
    assert 1000 < next_bisect_rate(rows) < 9000
    assert next_bisect_rate([{"achieved_hz": 1000, "sustained": True}]) is None
    assert next_bisect_rate([{"achieved_hz": 1000, "sustained": True}, {"achieved_hz": 1050, "sustained": False}]) is None


def test_steady_state_drops_the_warm_up(tmp_path):
    t0 = 1_700_000_000_000_000
    trades = pd.DataFrame({"produced_ts_us": [t0, t0 + 500_000, t0 + 1_500_000]})
    candles = pd.DataFrame({"window_end_us": [t0 + 1_000_000, t0 + 2_000_000]})
    result = LoadResult(10, 2, 10, trades, candles, np.zeros((1, 2)), np.zeros((1, 2)), 0, {})
    kept_trades, kept_candles = steady_state(result)
    assert list(kept_trades.produced_ts_us) == [t0 + 1_500_000]
    assert list(kept_candles.window_end_us) == [t0 + 1_000_000, t0 + 2_000_000]


def test_tail_reader_reads_only_new_whole_rows(tmp_path):
    path = tmp_path / "trades.csv"
    reader = TailReader(path, TRADES_COLUMNS)
    assert reader.read_new().empty
    header = ",".join(TRADES_COLUMNS) + "\n"
    row = "AAPL,{},1.5,2.0,buy,1,2,3,0,{}\n"
    path.write_text(header + row.format(1, 0))
    assert list(reader.read_new().trade_id) == [1]
    with path.open("a") as f:
        f.write(row.format(2, 1) + "AAPL,3,1.5")
    assert list(reader.read_new().trade_id) == [2]
    reader.skip_to_end()
    assert reader.read_new().empty
    with path.open("a") as f:
        f.write(",2.0,buy,1,2,3,0,2\n")
    assert list(reader.read_new().trade_id) == [3]  # the line that was being written when we skipped


def test_production_rate_uses_the_generators_clock():
    t0 = 1_700_000_000_000_000
    trades = pd.DataFrame({"produced_ts_us": [t0 + i * 100_000 for i in range(11)]})  # 11 trades over 1 s
    assert production_rate(trades) == pytest.approx(10.0)
    assert production_rate(trades.iloc[:1]) == 0.0
