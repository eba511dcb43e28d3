"""Part 1 results: trade prices with their candles, end-to-end latency, message rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import DOWN_COLOR, UP_COLOR, clock, fmt, time_axis, utc


# ---- trade prices and candles -----------------------------------------------------------

def plot_prices_and_candles(trades: pd.DataFrame, candles: pd.DataFrame | None) -> Figure:
    """Per symbol: every trade's price (grey line) under the 1-s candles (OHLC bodies and wicks)."""
    symbols = sorted(trades["symbol"].unique())
    ncols = 2 if len(symbols) > 3 else 1
    nrows = -(-len(symbols) // ncols)
    fig = Figure(figsize=(12, 2.6 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    for ax, symbol in zip(axes.flat, symbols):
        own = trades[trades["symbol"] == symbol].sort_values("event_ts_us")
        ax.plot(utc(own["event_ts_us"]), own["price"], color="0.55", lw=0.7, marker=".", ms=2.5,
                label="trade price")
        if candles is not None:
            _draw_candles(ax, candles[candles["symbol"] == symbol])
        ax.use_sticky_edges = False  # bars would otherwise pin the y limits to a body's edge
        ax.margins(y=0.06)
        ax.autoscale_view()
        ax.set_title(symbol, fontsize=10, loc="left")
        ax.set_ylabel("price (USD)")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(symbols):]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="best", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("event time (UTC, hh:mm:ss)")
        time_axis(ax)
    if len(symbols) % ncols:  # the last row is incomplete: label the axis above the gap too
        above = axes[-2, -1]
        above.xaxis.set_tick_params(labelbottom=True)
        above.set_xlabel("event time (UTC, hh:mm:ss)")
    fig.suptitle("Trade prices and 1-second candles per symbol (run shown)")
    return fig


def _draw_candles(ax, candles: pd.DataFrame) -> None:
    if candles.empty:
        return
    start, end = utc(candles["window_start_us"]), utc(candles["window_end_us"])
    mid, width = (start + end) / 2, (end - start) * 0.7
    up = (candles["close"] >= candles["open"]).to_numpy()
    colors = np.where(up, UP_COLOR, DOWN_COLOR)
    ax.vlines(mid, candles["low"], candles["high"], colors=colors, lw=1.0)
    body = (candles["close"] - candles["open"]).abs().to_numpy()
    # A candle whose open equals its close still gets a visible body.
    floor = max(float(candles["high"].max() - candles["low"].min()) * 0.004, 1e-9)
    ax.bar(mid, np.maximum(body, floor), bottom=np.minimum(candles["open"], candles["close"]),
           width=width, color=colors, alpha=0.85, label="1-s candle (open/close body, high/low wick)")


def caption_prices_and_candles(trades: pd.DataFrame, candles: pd.DataFrame | None, all_trades: pd.DataFrame | None = None) -> str:
    first, last = int(trades["event_ts_us"].min()), int(trades["event_ts_us"].max())
    span_s = (last - first) / 1e6
    moves = trades.groupby("symbol")["price"].agg(lambda p: (p.max() - p.min()) / p.mean() * 100)
    text = (f"{len(trades):,} trades of {trades['symbol'].nunique()} symbols over {fmt(span_s)} s "
            f"(from {clock(first)})")
    if candles is not None:
        text += f", summarised in {len(candles):,} one-second candles"
    text += (f"; the high-low range of a symbol's price was {fmt(moves.min(), 2)} % to "
             f"{fmt(moves.max(), 2)} % of its mean, so the symbols differ in volatility")
    if all_trades is not None and len(all_trades) > len(trades):
        text += f" (the CSV holds {len(all_trades):,} trades from earlier runs too; shown: the latest run)"
    return text + "."


# ---- end-to-end latency -----------------------------------------------------------------

def plot_latency_cdf(frames: dict[str, pd.DataFrame | None]) -> Figure:
    """Cumulative distribution of the latency to the CSV row, per stream and starting point, log-scaled."""
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.subplots()
    for label, values in results.latency_views(frames).items():
        x, y = results.ecdf(values)
        ax.step(np.maximum(x, 1e-3), y, where="post", label=f"{label}, n={len(x):,}",
                ls="--" if "processor" in label else "-", lw=1.6)
    for q in (0.5, 0.99):
        ax.axhline(q, color="0.6", lw=0.8, ls=":")
        ax.annotate(f"p{round(q * 100)}", (1.0, q), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency until the row is in the CSV (ms, log scale)")
    ax.set_ylabel("fraction of records ≤ latency")
    ax.set_title("End-to-end latency per stream (CDF)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


def caption_latency(frames: dict[str, pd.DataFrame | None]) -> str:
    parts = []
    for label, values in results.latency_views(frames).items():
        name = label.split(" (")[0]
        start = label.split("(")[1].split(" →")[0]
        parts.append(f"{name} from {start} p50 {fmt(values.quantile(0.5))} ms, p99 {fmt(values.quantile(0.99))} ms, "
                     f"max {fmt(values.max())} ms (n={len(values):,})")
    return ("Until the row is in its CSV file: " + "; ".join(parts) + ". A window can only close once its "
            "second is over and the watermark (latest event time minus the allowed lateness) has passed it, "
            "so a candle is at least that old when the processor produces it; from the processor on, only the "
            "Kafka hop and the sink remain.")


# ---- message rates ----------------------------------------------------------------------

IN_STYLE = {"lw": 3.2, "alpha": 0.45}  # wide and pale underneath
OUT_STYLE = {"lw": 1.3, "ls": "--", "marker": ".", "ms": 4}  # thin on top: both stay visible when equal


def plot_message_rates(rates: pd.DataFrame) -> Figure:
    panels = [(title, names) for title, names in results.RATE_PANELS.items()
              if rates["component"].isin(names).any()]
    fig = Figure(figsize=(11, 2.5 * len(panels) + 1.0), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    drain = rates.loc[rates["drain"].astype(bool), "t_s"]
    for ax, (title, names) in zip(axes, panels):
        for i, name in enumerate(names):
            part = rates[rates["component"] == name]
            role = "in" if i == 0 else "out"
            ax.step(part["t_s"], part["rate_per_s"], where="post", label=f"{role}: {name}",
                    **(IN_STYLE if i == 0 else OUT_STYLE))
        if len(drain):
            ax.axvspan(drain.min(), rates["t_s"].max() + 1, color="0.85", alpha=0.5, lw=0,
                       label="generators stopped: consumers drain")
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("messages per second")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[-1].set_xlabel("time since the first message of the run (s; 1-s bins, the partial last bin left out)")
    fig.suptitle("Message rates: what enters each stage next to what leaves it (run shown)")
    return fig


def caption_message_rates(rates: pd.DataFrame) -> str:
    means = results.mean_rates(rates)
    parts = [f"{name} {fmt(value)}/s" for name, value in means.items()]
    return ("Mean rates while the generators ran (first partial second left out): " + ", ".join(parts) +
            ". Generators and the processor are timed by when they produced, the sinks by when they wrote, so "
            "a sink's line follows its producer's by the end-to-end latency; the order-book generator is "
            "counted through the snapshots each feature window saw (in event time).")
