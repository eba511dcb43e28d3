"""Bonus 4's batching figure and caption, from rows shaped like results/bench/batching*.csv."""

from __future__ import annotations

import pandas as pd

from kafkalab.report.figures.batching import caption_batching, medians, plot_batching


def _frame() -> pd.DataFrame:
    rows = []
    for repeat, (before, after) in enumerate(((6000, 30000), (7000, 28000), (6500, 36000)), 1):
        rows.append({"variant": "before", "repeat": repeat, "batch_size": 1000, "records_per_s": before,
                     "worker_cores": 0.25, "broker_cores": 0.8, "transactions": 121, "load_avg_1m": 1.5})
        rows.append({"variant": "after", "repeat": repeat, "batch_size": 20000, "records_per_s": after,
                     "worker_cores": 0.8, "broker_cores": 0.3, "transactions": 7, "load_avg_1m": 1.9})
    return pd.DataFrame(rows)


def test_medians_are_per_variant_before_first():
    table = medians(_frame())
    assert list(table.index) == ["before", "after"]
    assert table.loc["before", "records_per_s"] == 6500 and table.loc["after", "records_per_s"] == 30000
    assert table.loc["after", "drains"] == 3 and table.loc["after", "batch_size"] == 20000


def test_the_caption_quotes_both_medians_the_ratio_and_the_cpu():
    text = caption_batching(_frame())
    assert "1,000 records per step drained 6,500 records/s with 121 transactions" in text
    assert "20,000 per step 30,000 records/s with 7" in text
    assert "4.6×" in text and "from 0.25 to 0.8 cores" in text and "load average" in text


def test_one_variant_only_says_so():
    assert caption_batching(_frame().query("variant == 'after'")).startswith("Only one variant was measured")


def test_the_figure_has_the_rates_and_the_lag_of_the_first_repeat():
    timeline = pd.DataFrame([{"variant": v, "repeat": r, "t_s": t, "lag": lag}
                             for v in ("before", "after") for r in (1, 2) for t, lag in ((0, 100), (1, 0))])
    fig = plot_batching(_frame(), {"batching_timeline": timeline})
    rate, lag = fig.axes
    assert [p.get_height() for p in rate.patches] == [6500, 30000]
    assert [line.get_label() for line in lag.get_lines()] == ["before", "after"]
