"""End to end: the five components as papermill processes for ~20 s on fresh topics.

Checks what issue 3 asks of the whole pipeline: the trades CSV grows at >= 10 Hz, every
candle in candles.csv equals the candle recomputed from trades.csv, and trades.csv
holds every trade the generator saw acknowledged exactly once. And supervision (issue 15):
a kill -9 of the processor mid-run heals without a human, losing and doubling nothing.
"""

from __future__ import annotations

import math
import re
import threading
import time

import pandas as pd
import psutil
import pytest

from kafkalab import config as lab_config
from kafkalab.pipeline.launcher import PAPERMILL_DEAD_KERNEL
from kafkalab.pipeline.plan import private_plan
from kafkalab.pipeline.runner import PipelineError, RestartPolicy, run_plan
from kafkalab.runtime.loop import kernel_pids, ready_file
from kafkalab.runtime.params import CANDLES_SINK, TRADE_GENERATOR, TRADES_SINK
from kafkalab.transports.kafka.lag import group_lag

SECONDS = 20.0
WINDOW_US = 1_000_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def recompute_candles(trades: pd.DataFrame) -> pd.DataFrame:
    """OHLC, volume and count per (symbol, 1 s event-time window) from the raw trades."""
    trades = trades.assign(window_start_us=trades.event_ts_us - trades.event_ts_us % WINDOW_US)
    trades = trades.sort_values(["symbol", "window_start_us", "event_ts_us", "trade_id"])
    grouped = trades.groupby(["symbol", "window_start_us"])
    return pd.DataFrame({
        "open": grouped.price.first(), "high": grouped.price.max(), "low": grouped.price.min(),
        "close": grouped.price.last(), "volume": grouped["size"].sum(), "trade_count": grouped.size(),
    })


def check_outputs(config, plan, acked, bootstrap) -> pd.DataFrame:
    """Every acknowledged trade exactly once, every candle equal to the recomputed one, drained;
    returns the trades."""
    trades = pd.read_csv(config.data_dir / "trades.csv")
    candles = pd.read_csv(config.data_dir / "candles.csv")
    acknowledged = pd.read_csv(acked)

    # every acknowledged trade exactly once, nothing else
    keys = ["symbol", "trade_id"]
    assert not trades.duplicated(keys).any()
    assert not trades.duplicated(["transport", "position"]).any()
    stored = set(map(tuple, trades[keys].itertuples(index=False)))
    assert stored == set(map(tuple, acknowledged[keys].itertuples(index=False)))
    where = ["transport", "position"]
    assert set(map(tuple, trades[where].itertuples(index=False))) == set(map(tuple, acknowledged[where].itertuples(index=False)))

    # every closed window: the candle equals the one recomputed from trades.csv
    expected = recompute_candles(trades)
    got = candles.set_index(["symbol", "window_start_us"]).sort_index()
    assert not got.index.duplicated().any()
    assert set(got.index) == set(expected.index)  # the drain lets the processor close every window
    joined = got.join(expected.add_suffix("_expected"))
    for column in ("open", "high", "low", "close", "trade_count"):
        assert (joined[column] == joined[f"{column}_expected"]).all(), column
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(joined.volume, joined.volume_expected))
    assert (got.window_end_us - got.index.get_level_values("window_start_us") == WINDOW_US).all()

    # drained: the sinks' groups committed everything
    streams = plan.shared_params
    assert group_lag(bootstrap, f"{plan.params(TRADES_SINK).group_id}", [streams.stream("trades")]) == 0
    assert group_lag(bootstrap, plan.params(CANDLES_SINK).group_id,
                     [streams.stream("candles"), streams.stream("book-features")]) == 0
    features = pd.read_csv(config.data_dir / "book_features.csv")
    assert not features.duplicated(["symbol", "window_start_us"]).any()
    # one book-features row per (symbol, window) that held a snapshot: books arrive at 4/s
    # in total over the symbols, so at least a window per second of generation
    assert len(features) >= SECONDS / 2, len(features)
    return trades


def test_whole_pipeline(bootstrap, tag, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    acked = tmp_path / "acked.csv"
    plan = private_plan(tag, SECONDS, overrides={TRADE_GENERATOR: {"acked_csv": str(acked)}})
    said: list[str] = []
    assert run_plan(config, plan, echo=said.append, show_progress=False) == 0
    assert len(said) == 1 and "no restarts" in said[0], said
    # each component's kernel was sampled: its CPU seconds and peak memory are in the line
    assert re.search(r"CPU / peak memory: market-processor \d+\.\d s / [1-9]\d* MiB, trades-sink", said[0]), said
    assert (config.runs_dir / "generator_trades.ipynb").exists() and (config.runs_dir / "sink_trades_csv.ipynb").exists()
    trades = check_outputs(config, plan, acked, bootstrap)
    rows = f"trades {len(trades):,}, candles {len(pd.read_csv(config.data_dir / 'candles.csv')):,}"
    assert f"this run wrote {rows}" in said[0] and f"now hold {rows}" in said[0], said  # a fresh folder: the same
    # >= 10 trades per second of generation (the generator's default rate is 10 Hz in total)
    span_s = (trades.produced_ts_us.max() - trades.produced_ts_us.min()) / 1e6
    assert span_s > SECONDS / 2
    assert len(trades) / span_s >= 10.0


def test_a_failing_component_is_restarted_then_ends_the_run_with_one_line_naming_it(bootstrap, tag, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    plan = private_plan(tag, 30, overrides={TRADES_SINK: {"streams": f"trades=missing-{tag}"}})
    with pytest.raises(PipelineError) as err:
        run_plan(config, plan, show_progress=False, restart=RestartPolicy(max_restarts=1, first_backoff_s=0.5))
    message = str(err.value)
    assert "\n" not in message
    assert "trades-sink" in message and str(config.runs_dir / "sink_trades_csv.ipynb") in message
    assert f"missing-{tag}" in message  # the component's own error, from its log
    assert "after 1 restart(s) (exit codes 1)" in message
    assert (config.runs_dir / "sink_trades_csv.log").read_text().count("--- start 2 ---") == 1
    # the others were stopped cleanly: each saved its executed notebook, no stop file left behind
    assert (config.runs_dir / "processor_market.ipynb").exists()
    assert not list(config.runs_dir.glob("*.stop")) and not list(config.runs_dir.glob("*.ready"))


def _kernel_of(notebook: str) -> int | None:
    """The Jupyter kernel running `notebook` under a papermill this test process started."""
    for child in psutil.Process().children(recursive=True):
        try:
            if any(notebook in part for part in child.cmdline()) and "papermill" in " ".join(child.cmdline()):
                kernels = kernel_pids(child.pid)
                return kernels[0] if kernels else None
        except psutil.Error:
            continue
    return None


@pytest.mark.timeout(900)  # five kernels and a restarted one: minutes on a loaded 2-core machine
def test_kill_9_of_the_processor_heals_without_a_human(bootstrap, tag, tmp_path):
    """The runner restarts the processor after kill -9 of its kernel; the run then ends normally,
    every acknowledged trade in trades.csv once and every candle equal to the recomputed one."""
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    acked = tmp_path / "acked.csv"
    plan = private_plan(tag, 40, overrides={TRADE_GENERATOR: {"acked_csv": str(acked), "rate_hz": 50}})
    said: list[str] = []
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(run_plan(config, plan, echo=said.append, show_progress=False))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            outcome.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    ready = ready_file(config.runs_dir / "processor_market.stop")
    trades_csv = config.data_dir / "trades.csv"
    deadline = time.monotonic() + 180
    while not (ready.exists() and trades_csv.exists() and trades_csv.stat().st_size > 5000):
        assert runner.is_alive() and time.monotonic() < deadline, (outcome, "the pipeline never got going")
        time.sleep(0.5)
    kernel = _kernel_of("processor_market.ipynb")
    assert kernel is not None, "no processor kernel found"
    psutil.Process(kernel).kill()  # kill -9: no abort, no commit, an open transaction left behind
    runner.join(840)
    assert not runner.is_alive(), "the run did not end"
    assert outcome == [0], outcome
    assert f"restarts: market-processor (exit {PAPERMILL_DEAD_KERNEL})" in said[0], said
    assert (config.runs_dir / "processor_market.log").read_text().count("--- start 2 ---") == 1
    check_outputs(config, plan, acked, bootstrap)
