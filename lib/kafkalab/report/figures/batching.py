"""Bonus 4: the processor's records per transaction, before and after (results/bench/batching*.csv)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, load_note

VARIANT_COLORS = {"before": "#8c8c8c", "after": "#4c72b0"}


def medians(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant (before, after): its batch size and the medians over the repeats."""
    rows = results.numeric(frame, "batch_size", "records_per_s", "worker_cores", "broker_cores", "transactions")
    rows = rows.dropna(subset=["records_per_s"])
    table = rows.groupby("variant", sort=False).agg(
        batch_size=("batch_size", "first"), drains=("records_per_s", "size"), records_per_s=("records_per_s", "median"),
        worker_cores=("worker_cores", "median"), broker_cores=("broker_cores", "median"),
        transactions=("transactions", "median"))
    return table.reindex([v for v in VARIANT_COLORS if v in table.index])


def plot_batching(frame: pd.DataFrame, bench: dict | None) -> Figure:
    table = medians(frame)
    timeline = (bench or {}).get("batching_timeline")
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    rate, lag = fig.subplots(1, 2, width_ratios=(1, 1.6))
    labels = [f"{v}\n{int(b):,} per step" for v, b in zip(table.index, table["batch_size"])]
    bars = rate.bar(labels, table["records_per_s"], color=[VARIANT_COLORS[v] for v in table.index])
    rate.bar_label(bars, [fmt(v) for v in table["records_per_s"]], fontsize=9)
    rate.set_ylabel("records per second drained (median)")
    rate.set_title("one processor instance, 6 partitions")
    rate.grid(axis="y", alpha=0.3)
    if timeline is not None:
        rows = results.numeric(timeline, "t_s", "lag", "repeat")
        for variant, part in rows[rows["repeat"] == rows["repeat"].min()].groupby("variant", sort=False):
            lag.plot(part["t_s"], part["lag"], color=VARIANT_COLORS.get(variant), label=variant)
        lag.legend()
    lag.set_xlabel("time since the backlog was written (s)")
    lag.set_ylabel("consumer lag (records)")
    lag.set_title("the same backlog drained (first repeat)")
    lag.grid(alpha=0.3)
    fig.suptitle("The processor's bottleneck: two transaction round trips per step, whatever its size")
    return fig


def caption_batching(frame: pd.DataFrame) -> str:
    table = medians(frame)
    if not {"before", "after"} <= set(table.index):
        return "Only one variant was measured" + load_note(frame) + "."
    before, after = table.loc["before"], table.loc["after"]
    return (f"Median of {int(after['drains'])} drain(s) each, interleaved in one run: {int(before['batch_size']):,} "
            f"records per step drained {fmt(before['records_per_s'])} records/s with "
            f"{fmt(before['transactions'])} transactions, {int(after['batch_size']):,} per step "
            f"{fmt(after['records_per_s'])} records/s with {fmt(after['transactions'])}: "
            f"{fmt(after['records_per_s'] / before['records_per_s'], 2)}×. The processor's CPU use went from "
            f"{fmt(before['worker_cores'], 2)} to {fmt(after['worker_cores'], 2)} cores: before, it was mostly "
            f"waiting for its transactions" + load_note(frame) + ".")
