"""End to end: the five components as papermill processes for ~20 s on fresh topics.

Checks what issue 3 asks of the whole pipeline: the trades CSV grows at >= 10 Hz, every
candle in candles.csv equals the candle recomputed from trades.csv, and trades.csv
holds every trade the generator saw acknowledged exactly once.
"""

from __future__ import annotations

import math
import uuid

import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.transports.kafka.clients import delete_topics
from kafkalab.pipeline.runner import PipelineError, PipelineGroups, PipelinePlan, PipelineTopics, group_lag, run_plan

SECONDS = 20.0
WINDOW_US = 1_000_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def pipeline_topics(bootstrap):
    tag = uuid.uuid4().hex[:8]
    names = PipelineTopics(*(f"e2e-{tag}-{n}" for n in ("trades", "orderbooks", "candles", "book-features",
                                                       "dead-letters")))
    yield names
    try:
        delete_topics(bootstrap, [n for n in vars(names).values()])
    except Exception:
        pass


def recompute_candles(trades: pd.DataFrame) -> pd.DataFrame:
    """OHLC, volume and count per (symbol, 1 s event-time window) from the raw trades."""
    trades = trades.assign(window_start_us=trades.event_ts_us - trades.event_ts_us % WINDOW_US)
    trades = trades.sort_values(["symbol", "window_start_us", "event_ts_us", "trade_id"])
    grouped = trades.groupby(["symbol", "window_start_us"])
    return pd.DataFrame({
        "open": grouped.price.first(), "high": grouped.price.max(), "low": grouped.price.min(),
        "close": grouped.price.last(), "volume": grouped["size"].sum(), "trade_count": grouped.size(),
    })


def test_whole_pipeline(bootstrap, pipeline_topics, tmp_path):
    tag = uuid.uuid4().hex[:8]
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    acked = tmp_path / "acked.csv"
    plan = PipelinePlan(seconds=SECONDS, topics=pipeline_topics, acked_csv=acked,
                        groups=PipelineGroups(f"e2e-proc-{tag}", f"e2e-sink-t-{tag}", f"e2e-sink-c-{tag}"))
    assert run_plan(config, plan, show_progress=False) == 0

    trades = pd.read_csv(config.data_dir / "trades.csv")
    candles = pd.read_csv(config.data_dir / "candles.csv")
    acknowledged = pd.read_csv(acked)
    assert (config.runs_dir / "generator_trades.ipynb").exists() and (config.runs_dir / "sink_trades_csv.ipynb").exists()

    # >= 10 trades per second of generation (the generator's default rate is 10 Hz in total)
    span_s = (trades.produced_ts_us.max() - trades.produced_ts_us.min()) / 1e6
    assert span_s > SECONDS / 2
    assert len(trades) / span_s >= 10.0

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
    assert group_lag(bootstrap, plan.groups.trades_sink, [pipeline_topics.trades]) == 0
    assert group_lag(bootstrap, plan.groups.candles_sink, [pipeline_topics.candles, pipeline_topics.book_features]) == 0
    assert len(pd.read_csv(config.data_dir / "book_features.csv")) > 0


def test_a_failing_component_ends_the_run_with_one_line_naming_it(bootstrap, pipeline_topics, tmp_path):
    tag = uuid.uuid4().hex[:8]
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path / "results"))
    plan = PipelinePlan(seconds=30, topics=pipeline_topics,
                        groups=PipelineGroups(f"e2e-proc-{tag}", f"e2e-sink-t-{tag}", f"e2e-sink-c-{tag}"),
                        extra={"sink_trades_csv": {"trades_topic": f"missing-{tag}"}})
    with pytest.raises(PipelineError) as err:
        run_plan(config, plan, show_progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert "sink_trades_csv" in message and str(config.runs_dir / "sink_trades_csv.ipynb") in message
    assert f"missing-{tag}" in message  # the component's own error, from its log
    # the others were stopped cleanly: each saved its executed notebook, no stop file left behind
    assert (config.runs_dir / "processor_market.ipynb").exists()
    assert not list(config.runs_dir.glob("*.stop"))
