"""The bottleneck experiment's pure parts: its figures from a timeline, and the processor's slowdown setting."""

from __future__ import annotations

import math

import pytest

from kafkalab import config as lab_config
from kafkalab.bench import bottleneck
from kafkalab.errors import ConfigError
from kafkalab.transports.kafka.processor import MarketProcessor

MARKS = {"second_started": 12.0, "second_ready": 14.0, "caught_up": 22.0, "feed_stopped": 25.0}


def _timeline() -> list[dict]:
    """One instance at 900 records/s against 1,300/s until 14 s, then two draining 500 records/s."""
    rows = [{"t_s": float(t), "processed": 900 * t, "lag": 400 * t} for t in range(15)]
    rows += [{"t_s": float(t), "processed": 0, "lag": max(5600 - 500 * (t - 14), 0)} for t in range(15, 27)]
    return rows


def test_the_figures_come_from_their_phases():
    row = bottleneck.summarize(_timeline(), MARKS, bottleneck.QUICK)
    # one instance: the samples up to the second instance's start
    assert row["capacity_per_instance"] == 900 and row["lag_growth_per_s"] == 400
    # two: from the group stable with both until the group had caught up
    assert row["drain_per_s"] == 500
    assert row["lag_at_join"] == 5600 and row["lag_max"] == 5600
    assert (row["second_started_s"], row["second_ready_s"], row["time_to_caught_up_s"]) == (12.0, 2.0, 10.0)
    assert row["nominal_capacity_per_s"] == 1 / bottleneck.DELAY_PER_RECORD_S
    # the experiment is set up to need two instances: above one's capacity, below two's
    assert row["nominal_capacity_per_s"] < bottleneck.RATE_PER_S < 2 * row["nominal_capacity_per_s"]


def test_a_run_that_never_got_a_second_instance_has_no_drain_figures():
    rows = [r for r in _timeline() if r["t_s"] <= 12]
    row = bottleneck.summarize(rows, {}, bottleneck.QUICK)
    assert row["lag_growth_per_s"] == 400
    assert row["drain_per_s"] is None and row["time_to_caught_up_s"] is None and row["lag_at_join"] is None


def test_a_slope_needs_two_samples():
    assert bottleneck.slope([{"t_s": 0, "lag": 5}], "lag") is None
    assert bottleneck.slope([{"t_s": 0, "lag": 5}, {"t_s": 2, "lag": 1}], "lag") == -2


@pytest.mark.parametrize("delay", [-0.001, math.nan])
def test_the_processor_refuses_a_negative_or_unknown_slowdown(delay):
    with pytest.raises(ConfigError, match="delay_per_record_s must be 0"):
        MarketProcessor(lab_config.load(), delay_per_record_s=delay)


def test_the_processor_is_not_slowed_unless_asked():
    assert MarketProcessor(lab_config.load()).delay_per_record_s == 0


def test_a_moment_counts_from_the_sample_it_was_noted_at():
    """t_s is rounded to 10 ms in the timeline; the moments are not: the join's lag is that sample's."""
    rows = _timeline()
    row = bottleneck.summarize(rows, {**MARKS, "second_ready": 14.003}, bottleneck.QUICK)
    assert row["lag_at_join"] == 5600 and row["second_ready_s"] == 2.0
