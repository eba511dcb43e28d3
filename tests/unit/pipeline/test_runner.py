"""The pipeline's pure parts: the plan matches the notebooks, papermill reads them, row counting, renaming."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.errors import ConfigError
from kafkalab.bench.pipeline import TailReader
from kafkalab.bench.pipeline_rows import (END_LAG_S, LoadResult, end_lag, is_sustained, lag_slope, next_bisect_rate,
                                          processor_held_s, production_rate, steady_state)
from kafkalab.core.csvstore import TRADES_COLUMNS
from kafkalab.pipeline.launcher import (PAPERMILL_DEAD_KERNEL, ComponentProcess, PipelineError, notebook_parameters,
                                        parameters_sources)
from kafkalab.pipeline.plan import NOTEBOOKS, ComponentSpec, PipelinePlan, private_plan
from kafkalab.pipeline.progress import LineCounter
from kafkalab.pipeline.runner import Pipeline, RestartPolicy
from kafkalab.runtime.params import COMPONENTS, TRADE_GENERATOR, TRADES_SINK, ComponentParams
from kafkalab.transports.kafka.plan import topic_specs
from kafkalab.transports.kafka.topics import TOPICS

ROOT = Path(__file__).resolve().parents[3]
# The parameters every component notebook has, one name per concept.
COMMON = {"transport", "bootstrap_servers", "serializer", "results_dir", "streams", "max_seconds", "max_messages",
          "stop_file", "interactive"}


def test_every_parameter_the_launcher_passes_exists_in_its_notebook(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    plan = private_plan("t", 5, overrides={TRADE_GENERATOR: {"rate_hz": 20, "acked_csv": str(tmp_path / "a.csv")}})
    specs = plan.components()
    assert [s.name for s in specs] == ["market-processor", "trades-sink", "candles-sink", "trade-generator",
                                       "orderbook-generator"]
    for spec in specs:
        process = ComponentProcess(spec, config)
        process.check()  # raises for a parameter the notebook lacks
        assert set(process.parameters()) | {"interactive"} <= notebook_parameters(process.notebook), spec.name
    generator = ComponentProcess(specs[3], config).parameters()
    assert generator["rate_hz"] == 20.0 and generator["max_seconds"] == 5.0
    assert generator["streams"].startswith("trades=t-trades,orderbooks=t-orderbooks")


def test_every_notebook_has_the_common_parameters_and_runs_its_component_through_the_entry():
    for name, notebook in NOTEBOOKS.items():
        path = ROOT / "notebooks" / f"{notebook}.ipynb"
        assert COMMON <= notebook_parameters(path), notebook
        own = notebook_parameters(path) - COMMON - {"transport", "bootstrap_servers", "interactive"}
        assert own <= {f.name for f in fields(ComponentParams)}, (notebook, own)
        cells = json.loads(path.read_text())["cells"]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code" and
                       "parameters" not in c["metadata"].get("tags", []))
        assert f'run_component("{name}",' in code and code.count("run_component(") == 1, notebook
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")


def test_papermill_reads_every_parameters_line_without_a_warning(caplog):
    """Papermill parses each line of the parameters cell; a second "=" on a line (even in a
    comment) makes it warn "Unable to parse line" and then "Passed unknown parameter"."""
    from papermill.translators import PythonTranslator

    for notebook in NOTEBOOKS.values():
        path = ROOT / "notebooks" / f"{notebook}.ipynb"
        (source,) = parameters_sources(path)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="papermill"):
            found = {p.name for p in PythonTranslator.inspect({"source": source})}
        assert not caplog.records, (notebook, [r.getMessage() for r in caplog.records])
        assert found == notebook_parameters(path), notebook


def test_papermill_command_keeps_strings_as_strings(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    plan = PipelinePlan(seconds=7, overrides={TRADES_SINK: {"group_id": "123"}})
    sink = next(s for s in plan.components() if s.name == TRADES_SINK)
    args = ComponentProcess(sink, config).command()
    assert ["-r", "group_id", "123"] == args[args.index("group_id") - 1: args.index("group_id") + 2]
    gen = next(s for s in plan.components() if s.name == TRADE_GENERATOR)
    args = ComponentProcess(gen, config).command()
    assert ["-p", "max_seconds", "7.0"] == args[args.index("max_seconds") - 1: args.index("max_seconds") + 2]
    assert args[args.index("stop_file") + 1].endswith("runs/generator_trades.stop")
    assert ["-p", "interactive", "False"] == args[args.index("interactive") - 1: args.index("interactive") + 2]
    assert ["-r", "transport", "kafka"] == args[args.index("transport") - 1: args.index("transport") + 2]


def test_python_mode_runs_the_entry_with_the_same_parameters(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    spec = ComponentSpec(TRADES_SINK, ComponentParams(group_id="g", max_batch=100))
    process = ComponentProcess(spec, config, mode="python", label="sink-2")
    args = process.command()
    assert args[1:4] == ["-m", "kafkalab.pipeline.entry", "trades-sink"]
    assert json.loads(args[4]) == process.parameters()
    assert process.parameters()["max_batch"] == 100 and process.stop_file == tmp_path / "runs" / "sink-2.stop"


def test_a_plan_names_only_known_components_and_a_private_plan_renames_streams_and_groups():
    with pytest.raises(ConfigError, match="no component"):
        PipelinePlan(seconds=1, overrides={"sink_trades_csv": {}})
    plan = private_plan("p", 3, overrides={TRADES_SINK: {"streams": "trades=other"}})
    assert plan.params(TRADES_SINK).stream("trades") == "other"
    assert plan.params(TRADES_SINK).stream("dead-letters") == "p-dead-letters"  # the others stay shared
    assert plan.params("market-processor").group_id == "p-market-processor"
    assert plan.params(TRADE_GENERATOR).max_seconds == 3 and plan.params("market-processor").max_seconds == 0


def test_renamed_topics_keep_the_declared_specs():
    renamed = topic_specs(private_plan("x", 0).shared_params)
    assert [s.name for s in renamed] == ["x-trades", "x-orderbooks", "x-candles", "x-book-features", "x-dead-letters"]
    assert [(s.partitions, s.replication_factor, s.configs) for s in renamed] == \
        [(s.partitions, s.replication_factor, s.configs) for s in TOPICS]


def test_restart_back_off_doubles_up_to_its_cap():
    policy = RestartPolicy(max_restarts=5, first_backoff_s=1.0, max_backoff_s=5.0)
    assert [policy.backoff_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


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


def test_line_counter_tells_this_runs_rows_from_the_files_total(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("h\n1\n2\n")  # an earlier run's rows
    counter = LineCounter(path)
    with path.open("a") as f:
        f.write("3\n4\n5\n")
    assert (counter.rows_added(), counter.rows()) == (3, 5)
    path.rename(tmp_path / "trades.old.csv")  # moved aside (another source): a new file begins
    path.write_text("h\n6\n")
    assert (counter.rows_added(), counter.rows()) == (1, 1)
    assert LineCounter(tmp_path / "none.csv").rows_added() == 0


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


def test_a_processor_lag_sawtooth_is_not_growth_unless_the_processor_ends_behind():
    # committed offsets jump at each commit: 1.5 s transactions at 200/s, ended mid-tooth
    t = np.arange(3, 6, 0.25)
    sawtooth = np.column_stack([t, 200 * (t % 1.5)])
    assert lag_slope(sawtooth) > 10  # more than 5 % of the rate: the slope alone would call it growing
    assert is_sustained(200, 0, lag_slope(sawtooth), 0, end_lag(sawtooth))
    # what make run's quick grid measured at 200/s: the open window and its lateness (1.5 s of
    # records at most) are held by design, not left behind
    assert is_sustained(200, 0, 20.7, 0, 206.0)
    t = np.arange(3, 20, 0.25)
    growing = np.column_stack([t, 100 * t])  # half the feed left behind: 1,900 records at the end
    assert not is_sustained(200, 0, lag_slope(growing), 0, end_lag(growing))
    assert not is_sustained(200, 0, 20.7, 0, 200 * (END_LAG_S + processor_held_s()) + 1)


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


def exited(code: int) -> subprocess.Popen:
    """A finished real process with this exit code (negative: killed by that signal)."""
    script = f"import os, signal; os.kill(os.getpid(), {-code})" if code < 0 else f"raise SystemExit({code})"
    process = subprocess.Popen([sys.executable, "-c", script])
    process.wait(60)
    return process


def test_exit_codes_are_described(tmp_path):
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    spec = ComponentSpec(TRADES_SINK, ComponentParams())
    notebook, python = ComponentProcess(spec, config), ComponentProcess(spec, config, mode="python")
    notebook.popen, python.popen = exited(PAPERMILL_DEAD_KERNEL), exited(-signal.SIGKILL)
    assert notebook.describe_exit() == "138 (papermill: the kernel died)"
    assert python.describe_exit() == "-9 (killed by SIGKILL)"


def test_a_dead_consumer_is_restarted_after_its_back_off_then_the_run_fails_once_the_policy_is_used_up(
        tmp_path, capsys, monkeypatch):
    """Supervision without a broker: real exited processes stand in for a crashed component."""
    config = lab_config.load(env={}, results_dir=str(tmp_path))
    pipeline = Pipeline(config, private_plan("u", 5), restart=RestartPolicy(max_restarts=1, first_backoff_s=0.2))
    sink = pipeline.processes[TRADES_SINK]
    starts = []
    monkeypatch.setattr(sink, "start", lambda: (starts.append(time.monotonic()), setattr(sink, "popen", exited(1))))
    sink.popen = exited(-signal.SIGKILL)
    pipeline.check()  # schedules the restart, does not start it yet
    assert starts == [] and pipeline.restarting
    deadline = time.monotonic() + 30
    while not starts and time.monotonic() < deadline:
        pipeline.check()
        time.sleep(0.05)
    assert len(starts) == 1 and pipeline.restarts == [(TRADES_SINK, -9)]
    said = capsys.readouterr().out  # the log goes to the current stdout
    assert "WARNING pipeline: trades-sink exited with code -9 (killed by SIGKILL); restart 1 of 1 in 0.2 s" in said
    with pytest.raises(PipelineError, match=r"component trades-sink failed \(exit 1\).* after 1 restart\(s\) "
                                            r"\(exit codes -9\)$"):
        pipeline.check()
    assert pipeline.summary_of_restarts() == "restarts: trades-sink (exit -9)"
