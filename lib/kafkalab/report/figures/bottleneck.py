"""Bonus 4, the opposite: a processor slowed on purpose, lag over time with one and two instances
(results/bench/bottleneck.csv and bottleneck_timeline.csv)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import DOWN_COLOR, UP_COLOR, fmt, load_note

LAG_COLOR, RATE_COLOR, FEED_COLOR = "#4c72b0", "#2a9d8f", "#8c8c8c"
SMOOTH_SAMPLES = 5
SUMMARY_COLUMNS = ("rate_per_s", "feed_rate_per_s", "delay_per_record_ms", "step_records", "nominal_capacity_per_s",
                   "capacity_per_instance", "lag_growth_per_s", "drain_per_s", "second_started_s", "second_ready_s",
                   "lag_at_join", "lag_max", "caught_up_lag", "time_to_caught_up_s", "produced", "processed", "lost", "reread", "candles",
                   "candles_expected", "candle_mismatches", "errors", "load_avg_1m")


def summary(frame: pd.DataFrame) -> pd.Series:
    """The latest run's row, its figures as numbers."""
    return results.numeric(frame, *SUMMARY_COLUMNS).iloc[-1]


def moments(timeline: pd.DataFrame) -> dict[str, float]:
    """When each phase began (t_s of its first sample): "rebalancing", "2 instances", "feed stopped"."""
    rows = results.numeric(timeline, "t_s")
    return {phase: float(part["t_s"].min()) for phase, part in rows.groupby("phase", sort=False)
            if phase != "1 instance"}


def _mark_instances(ax, marks: dict[str, float], end: float) -> None:
    if "rebalancing" in marks:
        ax.axvline(marks["rebalancing"], color=DOWN_COLOR, linestyle="--", label="second instance started")
    if "2 instances" in marks:
        ax.axvspan(marks["2 instances"], marks.get("feed stopped", end), color=UP_COLOR, alpha=0.12,
                   label="2 instances in the group")
    if "feed stopped" in marks:
        ax.axvline(marks["feed stopped"], color=FEED_COLOR, linestyle=":", label="feed stopped")


def plot_bottleneck(frame: pd.DataFrame, bench: dict | None) -> Figure:
    row = summary(frame)
    timeline = results.numeric((bench or {})["bottleneck_timeline"], "t_s", "lag", "consumed_per_s", "instances")
    marks, end = moments(timeline), float(timeline["t_s"].max())
    fig = Figure(figsize=(11, 6), layout="constrained")
    lag, rate = fig.subplots(2, 1, sharex=True, height_ratios=(1.4, 1))
    lag.plot(timeline["t_s"], timeline["lag"], color=LAG_COLOR, label="consumer lag")
    _mark_instances(lag, marks, end)
    lag.set_ylabel("lag (records waiting)")
    lag.set_title(f"{fmt(row['rate_per_s'])} trades/s into a processor slowed to {fmt(row['delay_per_record_ms'])} ms "
                  f"per record")
    lag.legend(loc="upper left", fontsize=8)
    # an instance reports its progress once per step (about two seconds), so single seconds jump by whole steps
    smooth = timeline["consumed_per_s"].rolling(SMOOTH_SAMPLES, min_periods=1, center=True).mean()
    rate.plot(timeline["t_s"], smooth, color=RATE_COLOR, label=f"processed per second ({SMOOTH_SAMPLES} s mean)")
    rate.axhline(row["feed_rate_per_s"], color=FEED_COLOR, linestyle="-.", label="feed rate")
    for n in (1, 2):
        rate.axhline(n * row["capacity_per_instance"], color=LAG_COLOR, linestyle=":", alpha=0.6,
                     label="capacity of 1 and 2 instances (measured with 1)" if n == 1 else None)
    _mark_instances(rate, {k: v for k, v in marks.items() if k != "2 instances"}, end)
    rate.set_ylim(bottom=0)
    rate.set_ylabel("records per second")
    rate.set_xlabel("time since the feed started (s)")
    rate.legend(loc="upper left", fontsize=8)
    for ax in (lag, rate):
        ax.grid(alpha=0.3)
    fig.suptitle("A bottleneck on purpose: the lag grows with one instance and drains once a second one joins")
    return fig


def caption_bottleneck(frame: pd.DataFrame) -> str:
    row = summary(frame)
    if row["errors"]:
        detail = frame["error_detail"].iloc[-1] if "error_detail" in frame.columns else "see the table"
        return f"The latest run failed: {detail}" + load_note(frame) + "."
    return (f"A feed of {fmt(row['rate_per_s'])} trades/s (achieved {fmt(row['feed_rate_per_s'])}) into a processor "
            f"that waits {fmt(row['delay_per_record_ms'])} ms per record (at most {fmt(row['nominal_capacity_per_s'])} "
            f"records/s): one instance processed {fmt(row['capacity_per_instance'])} records/s, so the lag grew by "
            f"{fmt(row['lag_growth_per_s'])} records/s. The second instance started at {fmt(row['second_started_s'])} s "
            f"and the group was stable with both {fmt(row['second_ready_s'])} s later, the lag then at "
            f"{fmt(row['lag_at_join'])}; with two it fell by {fmt(row['drain_per_s'])} records/s and had caught up (lag "
            f"under {fmt(row['caught_up_lag'])} records, one second of input) {fmt(row['time_to_caught_up_s'])} s after "
            f"the second instance started. "
            f"Nothing lost: {fmt(row['produced'])} trades acknowledged, {fmt(row['lost'])} of them not processed "
            f"({fmt(row['reread'])} read twice, by the new owner of a partition after the rebalance), and "
            f"{fmt(row['candles'])} candles of {fmt(row['candles_expected'])} windows, "
            f"{fmt(row['candle_mismatches'])} different from those recomputed from the trades" + load_note(frame) + ".")
