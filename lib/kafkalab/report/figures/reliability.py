"""Part 2: the whole pipeline through broker loss and network faults (results/bench/reliability*.csv)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import DOWN_COLOR, UP_COLOR, fmt

MAX_EVENT_LABEL = 38


def plot_reliability_timeline(frame: pd.DataFrame) -> Figure:
    """One panel per scenario: acknowledgements per second, silent trades partitions, and the steps taken."""
    rows = results.numeric(frame, "t_s", "acks", "partitions_silent")
    scenarios = list(dict.fromkeys(rows["scenario"]))
    fig = Figure(figsize=(11, 2.3 * len(scenarios) + 0.8), layout="constrained")
    axes = fig.subplots(len(scenarios), 1, squeeze=False)[:, 0]
    legend = {}
    for ax, scenario in zip(axes, scenarios):
        one = rows[rows["scenario"] == scenario].sort_values("t_s")
        ax.step(one["t_s"], one["acks"], where="post", color=UP_COLOR, label="acknowledged trades per second")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("acks (per s)")
        silent = ax.twinx()
        silent.fill_between(one["t_s"], one["partitions_silent"], step="post", color=DOWN_COLOR, alpha=0.25,
                            label="trades partitions without an ack")
        silent.set_ylim(0, max(6, one["partitions_silent"].max() or 0) * 1.1)
        silent.set_ylabel("silent partitions (count)")
        for side in (ax, silent):
            legend.update(zip(*reversed(side.get_legend_handles_labels())))
        for t, event in one[one["event"].fillna("").astype(str) != ""][["t_s", "event"]].itertuples(index=False):
            ax.axvline(t, color="#555555", ls="--", lw=1)
            label = str(event) if len(str(event)) <= MAX_EVENT_LABEL else str(event)[: MAX_EVENT_LABEL - 1] + "…"
            ax.annotate(label, (t, 0.97), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                        fontsize=8)
        ax.set_title(scenario, loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time since the generators started (s)")
    fig.legend(list(legend.values()), list(legend.keys()), loc="outside lower center", ncols=2, fontsize=8)
    fig.suptitle("The pipeline through broker loss and network faults: acknowledgements per second")
    return fig


def caption_reliability_timeline(frame: pd.DataFrame, bench: dict | None = None) -> str:
    """The numbers per scenario: stall, lost, duplicated (from reliability.csv of the same run when present)."""
    summary = results.latest_run((bench or {}).get("reliability"))
    if summary is None or not len(summary):
        return f"{frame['scenario'].nunique()} scenario(s), one second per step."
    rows = results.numeric(summary, "acked", "lost", "duplicated", "candle_mismatches", "ack_resume_s", "ack_gap_max_s",
                           "ack_latency_before_ms", "ack_latency_during_ms", "ack_latency_others_ms")
    parts = [f"{r['scenario']}: {int(r['acked']):,} acknowledged, {int(r['lost'])} lost, {int(r['duplicated'])} "
             f"duplicated, {int(r['candle_mismatches'])} candle mismatches, every partition acked again "
             f"{fmt(r['ack_resume_s'])} s after the fault began (longest silence of all partitions "
             f"{fmt(r['ack_gap_max_s'])} s)" + _latency(r) for r in rows.to_dict("records")]
    return "; ".join(parts) + "."


def _latency(row: dict) -> str:
    """The latency scenarios' proof that the fault was felt (columns absent from older rows)."""
    during = row.get("ack_latency_during_ms")
    if during is None or pd.isna(during) or not during:
        return ""
    return (f", median produce-to-ack latency of the slowed broker's partitions {fmt(during)} ms during the "
            f"fault (other partitions {fmt(row.get('ack_latency_others_ms'))} ms, before the fault "
            f"{fmt(row.get('ack_latency_before_ms'))} ms)")
