"""Part 2: producer and consumer limits of the Python clients against Kafka's Java tools."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report.figures.common import (
    CLIENT_COLORS,
    fmt,
    grouped_bars,
    hbars,
    heatmap,
    load_note,
    ratio_colorbar,
)


# ---- producer limits ------------------------------------------------------------------------

def _producer_cell_label(row) -> str:
    if str(row.get("variant", "grid")).startswith("defaults") or row.get("acks") == "default":
        return f"{int(row['record_bytes'])} B, client defaults"
    return f"{int(row['record_bytes'])} B, acks={row['acks']}, batching {row['batching']}"


def _producer_frame(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.dropna(subset=["records_per_s"]).copy()
    rows["row"] = rows.apply(_producer_cell_label, axis=1)
    rows["series"] = np.where(rows["variant"].isin(["grid", "defaults"]), rows["client"],
                              rows["client"] + " (" + rows["variant"].astype(str) + ")")
    return rows


def plot_producer_ratios(frame: pd.DataFrame) -> Figure:
    rows = _producer_frame(frame)
    order = list(dict.fromkeys(rows.sort_values(["record_bytes"], kind="stable")["row"]))
    # A client with no ratio in any cell (e.g. a variant the --quick grid skips) gets no empty panel.
    clients = [s for s in dict.fromkeys(rows["series"]) if s != "java"
               and rows.loc[rows["series"] == s, "ratio_to_java"].notna().any()]
    if not clients:
        raise ValueError("no ratio to Java in this run: Kafka's ProducerPerformance gave no result "
                         "(the absolute rates follow)")
    fig = Figure(figsize=(4.6 * len(clients) + 1.5, max(0.42 * len(order) + 1.8, 3.4)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(clients), sharey=True))
    image = None
    for ax, client in zip(axes, clients):
        table = rows[rows["series"] == client].pivot_table(index="row", columns="compression",
                                                          values="ratio_to_java", aggfunc="mean")
        table = table.reindex(order)
        image = heatmap(ax, table)
        ax.set_title(client)
        ax.set_xlabel("compression")
    axes[0].set_ylabel("record size (bytes), acks, batching")
    if image is not None:
        ratio_colorbar(fig, image, list(axes))
    fig.suptitle("Producer throughput of the Python clients relative to Kafka's Java ProducerPerformance")
    return fig


def plot_producer_throughput(frame: pd.DataFrame) -> Figure:
    rows = _producer_frame(frame)
    rows["case"] = rows["row"] + ", " + rows["compression"].astype(str)
    order = list(dict.fromkeys(rows.sort_values(["record_bytes"], kind="stable")["case"]))
    table = rows.pivot_table(index="case", columns="series", values="records_per_s", aggfunc="mean").reindex(order)
    series = ["java"] + [c for c in table.columns if c != "java"] if "java" in table.columns else list(table.columns)
    fig = Figure(figsize=(10, 0.32 * len(order) * max(len(series), 1) / 2 + 1.8), layout="constrained")
    ax = fig.subplots()
    hbars(ax, table[series], {**CLIENT_COLORS, "kafka-python (defaults-pure-crc)": "#f2b8a0"})
    ax.set_xscale("log")
    ax.set_xlabel("records per second acknowledged (log scale)")
    ax.set_ylabel("record size (bytes), settings, compression")
    ax.set_title("Producer throughput per client and setting (one producer, 3 partitions, RF 3)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def caption_producer(frame: pd.DataFrame) -> str:
    rows = _producer_frame(frame)
    python = rows[rows["client"] != "java"]
    parts = []
    small_all = python[(python["record_bytes"] == 100) & (python["acks"] == "all")]
    if not small_all.empty:
        best = small_all.loc[small_all["ratio_to_java"].idxmax()]
        parts.append(f"best Python path on 100 B records with acks=all: {best['series']} "
                     f"({best['batching']} batching, {best['compression']}) at {fmt(best['records_per_s'])} records/s, "
                     f"{fmt(best['ratio_to_java'])}× Java in the same cell")
    kp = rows[(rows["client"] == "kafka-python") & (rows["record_bytes"] == 100)]
    defaults = kp[kp["variant"] == "defaults"]["records_per_s"]
    tuned = kp[kp["variant"] == "grid"]["records_per_s"]
    if len(defaults) and len(tuned):
        parts.append(f"kafka-python's best 100 B cell is {fmt(tuned.max() / defaults.iloc[0])}× its defaults "
                     f"({fmt(tuned.max())} vs {fmt(defaults.iloc[0])} records/s)")
    top = python.loc[python["records_per_s"].idxmax()] if not python.empty else None
    if top is not None:
        parts.append(f"fastest Python run overall: {top['series']} at {fmt(top['records_per_s'])} records/s "
                     f"({top['row']}, {top['compression']})")
    if reference := reference_ratios(python):
        parts.append(reference)
    return ("; ".join(parts) or "No Python rows") + load_note(frame) + "."


def reference_ratios(python: pd.DataFrame) -> str:
    """The long runs' ratios, per record size: the ones to quote (the grid's short Java runs carry warm-up)."""
    rows = python[(python["variant"] == "reference") & python["ratio_to_java"].notna()]
    if rows.empty:
        return ""
    ratios = ", ".join(f"{fmt(r['ratio_to_java'])}× at {int(r['record_bytes']):,} B"
                       for _, r in rows.sort_values("record_bytes").iterrows())
    return (f"the reference runs ({fmt(rows['seconds'].median())} s each after a warm-up, Java given as many "
            f"records; acks=all, batching on, no compression): {rows['client'].iloc[0]} {ratios} of Java")




# ---- consumer limits ------------------------------------------------------------------------

def caption_producer_throughput(frame: pd.DataFrame) -> str:
    return "Absolute rates behind the ratios: Java is the first bar of each setting" + load_note(frame) + "."


def _consumer_frame(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.dropna(subset=["records_per_s"]).copy()
    rows["row"] = rows["record_bytes"].astype(int).astype(str) + " B, " + rows["compression"].astype(str)
    rows["series"] = rows["client"] + " (" + rows["variant"].astype(str) + ")"
    rows.loc[rows["client"] == "java", "series"] = "java"
    return rows.sort_values("record_bytes", kind="stable")


def plot_consumer_ratios(frame: pd.DataFrame) -> Figure:
    rows = _consumer_frame(frame)
    order = list(dict.fromkeys(rows["row"]))
    python = rows[rows["client"] != "java"]
    table = python.pivot_table(index="row", columns="series", values="ratio_to_java", aggfunc="mean").reindex(order)
    fig = Figure(figsize=(8.5, max(0.45 * len(order) + 2.2, 3.4)), layout="constrained")
    ax = fig.subplots()
    image = heatmap(ax, table)
    ratio_colorbar(fig, image, ax)
    ax.set_xlabel("Python client (way of reading)")
    ax.set_ylabel("record size (bytes), compression")
    ax.tick_params(axis="x", labelrotation=15)
    ax.set_title("Consumer throughput of the Python clients relative to Kafka's Java ConsumerPerformance")
    return fig


def plot_consumer_throughput(frame: pd.DataFrame) -> Figure:
    rows = _consumer_frame(frame)
    order = list(dict.fromkeys(rows["row"]))
    table = rows.pivot_table(index="row", columns="series", values="mb_per_s", aggfunc="mean").reindex(order)
    series = ["java"] + [c for c in table.columns if c != "java"] if "java" in table.columns else list(table.columns)
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax = fig.subplots()
    colors = {"java": CLIENT_COLORS["java"], "confluent-kafka (defaults)": "#9bb5da",
              "confluent-kafka (batch)": "#4c72b0", "kafka-python (defaults)": "#f0c0a0", "kafka-python (tuned)": "#dd8452"}
    grouped_bars(ax, table[series], colors, log=True)
    ax.set_xlabel("record size (bytes), compression")
    ax.set_ylabel("MiB/s of record values read (log scale)")
    ax.set_title("Consumer throughput per client (one consumer, 3 partitions, from the beginning)")
    ax.legend(fontsize=8, ncols=2)
    return fig


def caption_consumer(frame: pd.DataFrame) -> str:
    rows = _consumer_frame(frame)
    python = rows[rows["client"] != "java"]
    parts = []
    for row_name, part in python.groupby("row", sort=False):
        best = part.loc[part["ratio_to_java"].idxmax()]
        parts.append(f"{row_name}: {best['series']} {fmt(best['ratio_to_java'])}× Java")
    return "Best Python way of reading per topic: " + "; ".join(parts) + load_note(frame) + "."


def caption_consumer_throughput(frame: pd.DataFrame) -> str:
    return "Absolute read rates behind the ratios, Java first in each group" + load_note(frame) + "."
