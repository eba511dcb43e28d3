"""Bonus 1: serialized size, CPU time and producer throughput per format (results/bench/serializers.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report.figures.common import FORMAT_COLORS, fmt, format_order, grouped_bars, quick_note


# ---- serializers ------------------------------------------------------------------------

def _codec_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["kind"] == "codec"] if "kind" in frame.columns else frame
    return rows.dropna(subset=["bytes_per_msg"])


def plot_serializer_sizes(frame: pd.DataFrame) -> Figure:
    codec = _codec_rows(frame)
    table = codec.pivot_table(index="message_type", columns="format", values="bytes_per_msg", aggfunc="mean")
    table = table[format_order(table.columns)]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, table, FORMAT_COLORS, log=True, fmt=lambda v: f"{v:,.0f}")
    ax.set_xlabel("message type")
    ax.set_ylabel("encoded size (bytes per message, log scale)")
    ax.set_title("Serialized size per message: JSON vs MessagePack vs Avro")
    ax.legend(title="format")
    return fig


def caption_serializer_sizes(frame: pd.DataFrame) -> str:
    codec = _codec_rows(frame)
    table = codec.pivot_table(index="message_type", columns="format", values="bytes_per_msg", aggfunc="mean")
    parts = []
    for mtype, row in table.iterrows():
        if "json" not in row or not np.isfinite(row["json"]):
            continue
        others = [f"{name} {fmt(row[name] / row['json'] * 100, 2)} %" for name in format_order(row.index)
                  if name != "json" and np.isfinite(row[name])]
        parts.append(f"{mtype} {fmt(row['json'], 3)} B in JSON ({', '.join(others)} of that)")
    return "Mean payload size per message: " + "; ".join(parts) + quick_note(frame) + "."


def plot_serializer_times(frame: pd.DataFrame) -> Figure:
    codec = _codec_rows(frame)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, what in ((axes[0], "encode_us", "encode"), (axes[1], "decode_us", "decode + validate")):
        table = codec.pivot_table(index="message_type", columns="format", values=column, aggfunc="mean")
        grouped_bars(ax, table[format_order(table.columns)], FORMAT_COLORS, log=True)
        ax.set_title(what)
        ax.set_xlabel("message type")
    axes[0].set_ylabel("time per message (µs, median of passes, log scale)")
    axes[0].legend(title="format")
    fig.suptitle("Serializer CPU time per message (one process, formats side by side)")
    return fig


def caption_serializer_times(frame: pd.DataFrame) -> str:
    codec = _codec_rows(frame)
    parts = []
    for mtype in ("orderbook", "trade"):
        rows = codec[codec["message_type"] == mtype].set_index("format")
        if rows.empty:
            continue
        enc = ", ".join(f"{f} {fmt(rows.loc[f, 'encode_us'])}" for f in format_order(rows.index))
        dec = ", ".join(f"{f} {fmt(rows.loc[f, 'decode_us'])}" for f in format_order(rows.index))
        parts.append(f"{mtype}: encode {enc} µs; decode {dec} µs")
    return ("Per message, including the message <-> dict conversion and validation the application pays: "
            + " | ".join(parts) + quick_note(frame) + ".")


def _producer_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if "kind" not in frame.columns or "records_per_s" not in frame.columns:
        return frame.iloc[0:0]
    return frame[frame["kind"] == "producer"].dropna(subset=["records_per_s"])


def plot_serializer_throughput(frame: pd.DataFrame) -> Figure:
    rows = _producer_rows(frame)
    types = sorted(rows["message_type"].unique())
    fig = Figure(figsize=(5 * max(len(types), 1) + 1, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(types), 1)))
    for ax, mtype in zip(axes, types):  # one panel per type: their rates differ by an order of magnitude
        table = rows[rows["message_type"] == mtype].pivot_table(
            index="compression", columns="format", values="records_per_s", aggfunc="median")
        grouped_bars(ax, table[format_order(table.columns)], FORMAT_COLORS, fmt=lambda v: f"{v:,.0f}")
        ax.set_title(mtype)
        ax.set_xlabel("compression")
        ax.set_ylabel("records per second (acknowledged)")
    axes[0].legend(title="format")
    fig.suptitle("Producer throughput through the real cluster per format (acks=all, RF 3, encoding included)")
    return fig


def caption_serializer_throughput(frame: pd.DataFrame) -> str:
    rows = _producer_rows(frame)
    table = rows.pivot_table(index=["message_type", "compression"], columns="format", values="records_per_s",
                             aggfunc="median")
    parts = []
    for (mtype, comp), row in table.iterrows():
        best = row.idxmax()
        parts.append(f"{mtype} ({comp}): {best} fastest at {fmt(row[best])} records/s"
                     + (f", JSON {fmt(row['json'])}" if best != "json" and "json" in row else ""))
    n = int(rows["repeat"].nunique()) if "repeat" in rows.columns else 1
    return ("One confluent-kafka producer, encoding included, median of "
            f"{n} repeat(s): " + "; ".join(parts) + quick_note(frame) + ".")
