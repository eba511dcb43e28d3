"""Part 2 deep dives: rebalancing, keys, compaction (results/bench/deepdive_*.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, grouped_bars, load_note


# ---- deep dives -------------------------------------------------------------------------------------

def plot_rebalance_timeline(frame: pd.DataFrame, events: pd.DataFrame | None = None) -> Figure:
    """Per strategy: which consumer read each partition when (gaps = the partition paused)."""
    rows = results.numeric(frame, "t_s", "partition", "records").dropna(subset=["t_s", "partition"])
    rows = rows[rows["records"] > 0]
    strategies = list(dict.fromkeys(rows["strategy"]))
    consumers = sorted(rows["consumer"].astype(str).unique())
    colors = dict(zip(consumers, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]))
    steps = np.diff(np.sort(rows["t_s"].unique()))
    bucket = float(steps[steps > 0].min()) if (steps > 0).any() else 1.0
    fig = Figure(figsize=(11, 2.6 * len(strategies) + 0.8), layout="constrained")
    axes = fig.subplots(len(strategies), 1, sharex=True, squeeze=False)[:, 0]
    for ax, strategy in zip(axes, strategies):
        own = rows[rows["strategy"] == strategy]
        for consumer, part in own.groupby(own["consumer"].astype(str)):
            for partition, spans in part.groupby("partition"):
                ax.broken_barh(list(zip(spans["t_s"], [bucket] * len(spans))), (partition - 0.4, 0.8),
                               color=colors[consumer], label=consumer)
        if events is not None and "strategy" in events.columns:
            changes = events[(events["strategy"] == strategy) & events["event"].isin(["join", "leave"])]
            for t, who, event in results.numeric(changes, "t_s")[["t_s", "consumer", "event"]].itertuples(index=False):
                ax.axvline(t, color="0.3", ls=":", lw=1)
                ax.annotate(f"{who} {event}s", (t, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                            rotation=90, va="top", ha="right")
        ax.set_title(str(strategy), fontsize=10, loc="left")
        ax.set_ylabel("partition")
        ax.set_yticks(sorted(rows["partition"].unique().astype(int)))
        ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    axes[0].legend([Patch(color=colors[c]) for c in consumers], consumers, title="consumer", fontsize=8,
                   loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1].set_xlabel(f"time since the first consumer joined (s; {bucket:g}-s buckets, gaps = no records read)")
    fig.suptitle("Who reads which partition while consumers join and leave the group")
    return fig


def plot_rebalance_timeline_with_events(frame: pd.DataFrame, bench: dict | None) -> Figure:
    """The timeline with the joins and leaves from deepdive_rebalance_events marked."""
    return plot_rebalance_timeline(frame, (bench or {}).get("deepdive_rebalance_events"))


def caption_rebalance_timeline(frame: pd.DataFrame, bench: dict | None = None) -> str:
    summary = (bench or {}).get("deepdive_rebalance")
    if summary is None:
        return f"{frame['strategy'].nunique()} assignment strategies shown" + load_note(frame) + "."
    rows = results.numeric(summary, "max_pause_s", "duplicates")
    parts = []
    for strategy, part in rows.groupby("strategy", sort=False):
        dups = part["duplicates"].max() if "duplicates" in part.columns else float("nan")
        parts.append(f"{strategy}: longest pause {fmt(part['max_pause_s'].max())} s"
                     + (f", {int(dups)} records read twice" if np.isfinite(dups) else ""))
    return "Per strategy, over all joins and leaves: " + "; ".join(parts) + load_note(frame) + "."


def plot_rebalance_pauses(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "max_pause_s", "t_s").dropna(subset=["max_pause_s"])
    order = list(dict.fromkeys(rows.sort_values("t_s")["change"])) if "t_s" in rows.columns else None
    table = rows.pivot_table(index="change", columns="strategy", values="max_pause_s", aggfunc="max")
    if order:
        table = table.reindex([o for o in order if o in table.index])
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, table, None)
    ax.set_xlabel("change of the consumer group")
    ax.set_ylabel("longest pause of a partition (s)")
    ax.set_title("How long partitions stop being read when the group changes")
    ax.legend(title="assignment strategy / protocol", fontsize=8)
    return fig


def caption_rebalance_pauses(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "max_pause_s", "moved_partitions", "stalled_partitions").dropna(subset=["max_pause_s"])
    worst = rows.loc[rows["max_pause_s"].idxmax()]
    best = rows.loc[rows["max_pause_s"].idxmin()]
    return (f"Longest pause: {fmt(worst['max_pause_s'])} s ({worst['strategy']}, {worst['change']}); shortest: "
            f"{fmt(best['max_pause_s'])} s ({best['strategy']}, {best['change']})" + load_note(frame) + ".")


def plot_key_spread(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "partition", "share", "records").dropna(subset=["partition", "share"])
    scenarios = list(dict.fromkeys(rows["scenario"]))
    ncols = min(3, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    fig = Figure(figsize=(12, 2.9 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios):
        table = rows[rows["scenario"] == scenario].pivot_table(index="partition", columns="partitioner",
                                                              values="share", aggfunc="sum")
        table.index = table.index.astype(int)
        grouped_bars(ax, table * 100, None, fmt=lambda v: f"{v:.0f}")
        ax.axhline(100 / len(table), color="0.4", ls=":", lw=1)
        ax.set_title(str(scenario), fontsize=10, loc="left")
        ax.set_xlabel("partition")
        ax.set_ylabel("share of records (%)")
        ax.legend(fontsize=7, title="partitioner", title_fontsize=7)
    for ax in axes.flat[len(scenarios):]:
        ax.set_visible(False)
    fig.suptitle("How records spread over the partitions for different keys (dotted: an even spread)")
    return fig


def caption_key_spread(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "partition", "share").dropna(subset=["share"])
    parts = []
    for (scenario, partitioner), part in rows.groupby(["scenario", "partitioner"], sort=False):
        empty = int((part["share"] == 0).sum())
        parts.append(f"{scenario} ({partitioner}): busiest partition {fmt(part['share'].max() * 100, 2)} %"
                     + (f", {empty} empty" if empty else ""))
    return "; ".join(parts) + load_note(frame) + "."


def plot_compaction(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "records", "distinct_keys", "tombstones")
    table = rows.set_index("phase")[[c for c in ("records", "distinct_keys", "tombstones") if c in rows.columns]]
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, table, {"records": "#4c72b0", "distinct_keys": "#55a868", "tombstones": "#c44e52"},
                  fmt=lambda v: f"{v:,.0f}")
    ax.set_xlabel("phase")
    ax.set_ylabel("count (records in the log)")
    ax.set_title("A compacted topic before and after the log cleaner ran")
    ax.legend(fontsize=8)
    return fig


def caption_compaction(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "records", "distinct_keys", "seconds").set_index("phase")
    text = []
    if {"written", "after-cleaning"} <= set(rows.index):
        text.append(f"{fmt(rows.loc['written', 'records'])} records written for "
                    f"{fmt(rows.loc['written', 'distinct_keys'])} keys; after cleaning the log held "
                    f"{fmt(rows.loc['after-cleaning', 'records'])}")
    if "latest_value_ok" in rows.columns and "after-cleaning" in rows.index:
        ok = str(rows.loc["after-cleaning", "latest_value_ok"]).lower() == "true"
        text.append("the latest value of every key survived" if ok else "NOT every key kept its latest value")
    return ("; ".join(text) or "Records per phase") + load_note(frame) + "."
