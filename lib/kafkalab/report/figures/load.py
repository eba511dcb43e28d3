"""Part 2: the pipeline under increasing load and the trade generator's own rate."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import FORMAT_COLORS, fmt, format_order, grouped_bars, load_note


# ---- pipeline latency under load ----------------------------------------------------------------

def _loads(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["kind"] == "load"] if "kind" in frame.columns else frame
    rows = results.numeric(rows, "offered_hz", "achieved_hz", "trades_p50_ms", "trades_p95_ms", "trades_p99_ms",
                    "candle_p50_ms", "candle_p99_ms", "sink_lag_max", "processor_lag_max")
    rows = rows.dropna(subset=["achieved_hz"]).sort_values("achieved_hz").copy()
    rows["ok"] = rows["sustained"].astype(str).str.lower().eq("true") if "sustained" in rows.columns else True
    return rows


def plot_pipeline_latency(frame: pd.DataFrame) -> Figure:
    rows = _loads(frame)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax_lat, ax_lag = fig.subplots(1, 2)
    for column, label, style in (("trades_p50_ms", "trades p50", "-o"), ("trades_p99_ms", "trades p99", "-s"),
                                 ("candle_p50_ms", "candles p50 (from window end)", "--o"),
                                 ("candle_p99_ms", "candles p99 (from window end)", "--s")):
        if column in rows.columns and rows[column].notna().any():
            ax_lat.plot(rows["achieved_hz"], rows[column], style, label=label, ms=4)
    for column, label in (("sink_lag_max", "trades sink"), ("processor_lag_max", "processor")):
        if column in rows.columns:
            ax_lag.plot(rows["achieved_hz"], rows[column].clip(lower=0.5), "-o", label=label, ms=4)
    bad = rows[~rows["ok"]]
    for ax in (ax_lat, ax_lag):
        for x in bad["achieved_hz"]:
            ax.axvline(x, color="#c44e52", alpha=0.25, lw=6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("trades per second achieved (log scale)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    ax_lat.set_ylabel("latency (ms, log scale)")
    ax_lat.set_title("end-to-end latency")
    ax_lag.set_ylabel("largest consumer lag seen (records, log scale; 0 drawn at 0.5)")
    ax_lag.set_title("consumer lag (red bands: load not sustained)")
    fig.suptitle("The real pipeline under increasing trade rates")
    return fig


def caption_pipeline(frame: pd.DataFrame) -> str:
    rows = _loads(frame)
    parts = []
    low = rows.iloc[(rows["offered_hz"] - 10).abs().argsort()[:1]] if "offered_hz" in rows.columns else rows.iloc[:1]
    if len(low):
        r = low.iloc[0]
        parts.append(f"at {fmt(r['offered_hz'])} Hz offered, trades p50 {fmt(r['trades_p50_ms'])} ms and p99 "
                     f"{fmt(r['trades_p99_ms'])} ms")
    summary = frame[frame["kind"] == "max_sustained"] if "kind" in frame.columns else frame.iloc[0:0]
    if len(summary) and "max_sustained_hz" in summary.columns:
        parts.append(f"highest trade rate sustained without growing lag: "
                     f"{fmt(float(summary['max_sustained_hz'].iloc[-1]))} trades/s")
    elif rows["ok"].any():
        parts.append(f"highest sustained load measured: {fmt(rows[rows['ok']]['achieved_hz'].max())} trades/s")
    return ("; ".join(parts) or "Latency per load") + load_note(frame) + "."




# ---- the trade generator's rate -------------------------------------------------------------------

def _generator_max(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["mode"] == "max"] if "mode" in frame.columns else frame
    return results.numeric(rows, "records_per_s").dropna(subset=["records_per_s"])


def plot_generator_rate(frame: pd.DataFrame) -> Figure:
    rows = _generator_max(frame)
    table = rows.pivot_table(index="settings", columns="serializer", values="records_per_s", aggfunc="median")
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, table[format_order(table.columns)], FORMAT_COLORS, fmt=lambda v: f"{v:,.0f}")
    ax.set_xlabel("producer settings")
    ax.set_ylabel("rate reached (trades acknowledged per second)")
    ax.set_title("The rate one trade generator (one Python producer) reaches at full speed")
    ax.legend(title="serializer")
    return fig


def caption_generator(frame: pd.DataFrame) -> str:
    rows = _generator_max(frame)
    parts = []
    if len(rows):
        best = rows.loc[rows["records_per_s"].idxmax()]
        parts.append(f"fastest: {best['settings']} settings with {best['serializer']} at "
                     f"{fmt(best['records_per_s'])} trades/s (acks=all, idempotent, median over repeats shown)")
    paced = results.numeric(frame[frame["mode"] == "paced"], "target_rate_hz", "rate_error_pct") if "mode" in frame.columns else None
    if paced is not None and len(paced):
        worst = paced["rate_error_pct"].abs().max()
        parts.append(f"paced runs ({', '.join(fmt(t) for t in sorted(paced['target_rate_hz'].dropna().unique()))} Hz) "
                     f"stayed within {fmt(worst, 2)} % of their target")
    return ("; ".join(parts) or "Rates reached") + load_note(frame) + "."
