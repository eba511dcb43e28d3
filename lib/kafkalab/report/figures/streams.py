"""Part 2's Kafka Streams deep dive: our Python processor against the same job in Kafka Streams
(results/bench/streams.csv, one row per engine and drain, written by `kafkalab bench streams`).

Columns read: engine (python, streams), records, records_per_s, cpu_per_1k_records_ms, peak_rss_mib,
load_avg_1m and, when the run measured them, the whole pipeline's candle latency at a steady trade
rate (latency_rate_hz): candle_p50_ms / candle_p99_ms from the window's end to the candle's
produced_ts_us (emitted by the processor), candle_written_p50_ms / _p99_ms to the sink's write,
latency_candles (how many candles).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, grouped_bars, load_note

ENGINE_ORDER = ("python", "streams")
ENGINE_LABELS = {"python": "Python processor", "streams": "Kafka Streams"}
ENGINE_COLORS = {"Python processor": "#4c72b0", "Kafka Streams": "#dd8452"}
# Our goal for the Python processor: at least this share of Kafka Streams' drain rate per instance.
GOAL_RATIO = 0.5
# column -> (panel title, y axis label)
COST_PANELS = {"records_per_s": ("drain rate", "records per second"),
               "cpu_per_1k_records_ms": ("CPU per 1,000 records", "CPU ms (user + system)"),
               "peak_rss_mib": ("memory", "peak RSS (MiB)")}
LATENCY_COLUMNS = {"candle_p50_ms": "p50", "candle_p99_ms": "p99"}  # window end -> emitted by the processor
WRITTEN_COLUMNS = ("candle_written_p50_ms", "candle_written_p99_ms")  # window end -> written by the candles sink


def engines(frame: pd.DataFrame) -> pd.DataFrame:
    """Per engine (Python first), the medians over its drains; index = engine name."""
    rows = results.numeric(frame, "records", "records_per_s", "cpu_per_1k_records_ms", "peak_rss_mib",
                           "latency_rate_hz", "latency_candles", *LATENCY_COLUMNS, *WRITTEN_COLUMNS)
    rows = rows.dropna(subset=["records_per_s"])
    columns = [c for c in ("records", *COST_PANELS, "latency_rate_hz", "latency_candles", *LATENCY_COLUMNS,
                           *WRITTEN_COLUMNS) if c in rows.columns]
    table = rows.groupby("engine", sort=False)[columns].median()
    table["drains"] = rows.groupby("engine", sort=False).size()
    return table.reindex([e for e in ENGINE_ORDER if e in table.index])


def has_latency(table: pd.DataFrame) -> bool:
    columns = list(LATENCY_COLUMNS)
    return set(columns) <= set(table.columns) and bool(table[columns].notna().to_numpy().any())


def plot_streams(frame: pd.DataFrame) -> Figure:
    table = engines(frame)
    latency = has_latency(table)
    fig = Figure(figsize=(13 if latency else 10.5, 4.2), layout="constrained")
    axes = fig.subplots(1, len(COST_PANELS) + latency)
    labels = [ENGINE_LABELS.get(e, e) for e in table.index]
    colors = [ENGINE_COLORS.get(label) for label in labels]
    for ax, (column, (title, unit)) in zip(axes, COST_PANELS.items()):
        values = table[column].to_numpy(dtype=float)
        bars = ax.bar(labels, values, color=colors)
        ax.bar_label(bars, [fmt(v) for v in values], fontsize=9)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
    if latency:
        ax = axes[-1]
        part = table[list(LATENCY_COLUMNS)].rename(columns=LATENCY_COLUMNS)
        grouped_bars(ax, part.set_axis(labels).T, ENGINE_COLORS)
        ax.set_ylabel("window end to candle emitted (ms)")
        ax.set_title(f"whole pipeline at {fmt(table['latency_rate_hz'].max())} trades/s")
        ax.legend(fontsize=8)
    fig.suptitle("One instance each, the same backlog: the Python processor and Kafka Streams (exactly once)")
    return fig


def ratio(table: pd.DataFrame) -> float:
    """Python's drain rate over Kafka Streams' (NaN unless both were measured)."""
    if not set(ENGINE_ORDER) <= set(table.index):
        return float("nan")
    return float(table.loc["python", "records_per_s"] / table.loc["streams", "records_per_s"])


def caption_streams(frame: pd.DataFrame) -> str:
    table = engines(frame)
    if not set(ENGINE_ORDER) <= set(table.index):
        return f"Only {', '.join(ENGINE_LABELS.get(e, e) for e in table.index)} was measured" + load_note(frame) + "."
    py, ks, share = table.loc["python"], table.loc["streams"], ratio(table)
    goal = "reached" if share >= GOAL_RATIO else "not reached"
    text = (f"Median of {int(py['drains'])} drain(s) per engine of {int(py['records']):,} trades each"
            f"{_partitions(frame)}: the Python "
            f"processor drained {fmt(py['records_per_s'])} records/s, Kafka Streams {fmt(ks['records_per_s'])}: "
            f"ratio python/streams {fmt(share, 2)} (goal ≥ {fmt(GOAL_RATIO, 2)}: {goal}). CPU per 1,000 records "
            f"{fmt(py['cpu_per_1k_records_ms'])} ms against {fmt(ks['cpu_per_1k_records_ms'])} ms, peak RSS "
            f"{fmt(py['peak_rss_mib'])} MiB against {fmt(ks['peak_rss_mib'])} MiB")
    if has_latency(table):
        text += (f"; in the whole pipeline at {fmt(table['latency_rate_hz'].max())} trades/s, candles emitted after "
                 f"their window's end p50 {fmt(py['candle_p50_ms'])} ms / p99 {fmt(py['candle_p99_ms'])} ms (Python) "
                 f"against {fmt(ks['candle_p50_ms'])} / {fmt(ks['candle_p99_ms'])} ms (Kafka Streams)")
        if all(c in table.columns for c in WRITTEN_COLUMNS):
            text += (f", written by the sink p50 {fmt(py['candle_written_p50_ms'])} / p99 "
                     f"{fmt(py['candle_written_p99_ms'])} ms against {fmt(ks['candle_written_p50_ms'])} / "
                     f"{fmt(ks['candle_written_p99_ms'])} ms")
        if "latency_candles" in table.columns:
            text += f", over {int(py['latency_candles'])} and {int(ks['latency_candles'])} candles"
    return text + load_note(frame) + "."


def _partitions(frame: pd.DataFrame) -> str:
    counts = results.numeric(frame, "partitions").get("partitions", pd.Series(dtype=float)).dropna()
    return f" on {int(counts.iloc[0])} partitions" if len(counts) else ""
