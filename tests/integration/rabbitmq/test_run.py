"""`kafkalab run --transport rabbitmq`: the runner drains each consumer in data-flow order and
stops it only once its queues are empty, so a bounded run's files hold every confirmed trade
and the candle of every window, the last ones included; a trades sink killed mid-run and
restarted by the runner loses and doubles nothing."""

from __future__ import annotations

import pytest

from kafkalab import config as lab_config
from kafkalab.bench.transports import loss_under_consumer_kill
from kafkalab.pipeline.plan import PipelinePlan
from kafkalab.pipeline.runner import run_plan
from kafkalab.runtime.params import TRADE_GENERATOR
from kafkalab.transports.rabbitmq.bench import DURABILITY
from helpers import assert_nothing_lost_after_one_kill
from tests.integration.rabbitmq.helpers import fresh_topology, last_counter
from tests.integration.rabbitmq.test_pipeline import check_outputs


@pytest.mark.slow
def test_a_bounded_run_stores_every_confirmed_trade_and_every_candle(rabbit_cluster, tmp_path):
    fresh_topology(rabbit_cluster)
    config = lab_config.load().with_overrides(transport="rabbitmq", results_dir=tmp_path)
    lines = []
    assert run_plan(config, PipelinePlan(6, overrides={TRADE_GENERATOR: {"rate_hz": 50}}), echo=lines.append,
                    show_progress=False, mode="python") == 0
    log = (config.runs_dir / "generator_trades.log").read_text()
    acked = last_counter(log, "acked")
    assert acked >= 200, log[-500:]
    check_outputs(rabbit_cluster, tmp_path, acked)
    assert "no restarts" in lines[-1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_trades_sink_killed_mid_run_loses_and_doubles_nothing(rabbit_cluster, tmp_path):
    fresh_topology(rabbit_cluster)
    config = lab_config.load().with_overrides(results_dir=tmp_path)
    rows = loss_under_consumer_kill(config, "rabbitmq", DURABILITY, quick=True, seconds=6.0)
    assert_nothing_lost_after_one_kill(rows, "rabbitmq")
