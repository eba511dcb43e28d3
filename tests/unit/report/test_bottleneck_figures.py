"""Bonus 4's bottleneck figure and caption, from rows shaped like results/bench/bottleneck*.csv."""

from __future__ import annotations

import pandas as pd

from kafkalab.report import catalog
from kafkalab.report.figures.bottleneck import caption_bottleneck, moments, plot_bottleneck


def _summary(**changes) -> pd.DataFrame:
    row = {"rate_per_s": 1300, "feed_rate_per_s": 1298.4, "delay_per_record_ms": 1.0, "step_records": 500,
           "nominal_capacity_per_s": 1000.0, "capacity_per_instance": 912.3, "lag_growth_per_s": 386.1,
           "drain_per_s": 471.9, "second_started_s": 12.02, "second_ready_s": 3.1, "lag_at_join": 5812,
           "lag_max": 5830, "caught_up_lag": 650, "time_to_caught_up_s": 15.2, "produced": 41210, "processed": 41210, "lost": 0,
           "reread": 1733, "candles": 1536, "candles_expected": 1536, "candle_mismatches": 0, "errors": 0,
           "error_detail": "", "load_avg_1m": 2.4, "machine_cores": 2, "quick": True}
    return pd.DataFrame([{**row, **changes}])


def _timeline() -> pd.DataFrame:
    phases = ["1 instance"] * 12 + ["rebalancing"] * 3 + ["2 instances"] * 11 + ["feed stopped"] * 2
    lags = [*range(0, 4800, 400), *range(4800, 0, -300)]
    assert len(lags) == len(phases)
    return pd.DataFrame([{"t_s": float(t), "phase": phase, "lag": lag, "consumed_per_s": 900.0, "instances": 1}
                         for t, (phase, lag) in enumerate(zip(phases, lags))])


def test_the_caption_quotes_the_run_from_its_row():
    text = caption_bottleneck(_summary())
    assert "A feed of 1,300 trades/s (achieved 1,298)" in text
    assert "waits 1 ms per record (at most 1,000 records/s)" in text
    assert "one instance processed 912 records/s, so the lag grew by 386 records/s" in text
    assert "started at 12 s and the group was stable with both 3.1 s later, the lag then at 5,812" in text
    assert "fell by 472 records/s and had caught up (lag under 650 records, one second of input) 15.2 s after" in text
    assert "41,210 trades acknowledged, 0 of them not processed (1,733 read twice" in text
    assert "1,536 candles of 1,536 windows, 0 different" in text
    assert "quick" in text and "load average during the run 2.4" in text


def test_a_failed_run_says_so_with_its_reason():
    text = caption_bottleneck(_summary(errors=1, error_detail="a processor instance exited"))
    assert text.startswith("The latest run failed: a processor instance exited")


def test_the_phases_begin_where_the_timeline_says():
    assert moments(_timeline()) == {"rebalancing": 12.0, "2 instances": 15.0, "feed stopped": 26.0}


def test_the_figure_marks_the_instances_on_the_lag_and_the_rates():
    fig = plot_bottleneck(_summary(), {"bottleneck_timeline": _timeline()})
    lag, rate = fig.axes
    assert lag.get_lines()[0].get_ydata().max() == 4800
    labels = [h.get_label() for h in lag.get_legend().legend_handles]
    assert labels == ["consumer lag", "second instance started", "2 instances in the group", "feed stopped"]
    span = lag.patches[0]
    assert (span.get_x(), span.get_x() + span.get_width()) == (15.0, 26.0)  # shaded while both were in the group
    heights = sorted(line.get_ydata()[0] for line in rate.get_lines()[1:4])
    assert heights == [912.3, 1298.4, 1824.6]  # capacity of one and two instances, the feed rate


def test_the_catalog_shows_it_in_bonus_4():
    table = catalog.BY_NAME["bottleneck"]
    assert (table.experiment, table.section, table.heading) == ("bottleneck", "part4", catalog.BONUS4_HEADING)
    assert catalog.command_for("bottleneck_timeline") == "kafkalab bench bottleneck"
