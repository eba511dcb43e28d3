"""Part 2: processor throughput and CPU with partitions x instances (results/bench/scaling*.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, load_note


# ---- scaling with partitions and instances -----------------------------------------------------

def plot_scaling_throughput(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "partitions", "instances", "records_per_s").dropna(subset=["records_per_s"])
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    ax = fig.subplots()
    for partitions, part in rows.groupby("partitions"):
        part = part.groupby("instances", as_index=False)["records_per_s"].mean().sort_values("instances")
        ax.plot(part["instances"], part["records_per_s"], marker="o", label=f"{int(partitions)} partition(s)")
    ax.set_xlabel("processor instances in the consumer group (separate processes)")
    ax.set_ylabel("records per second drained by the group")
    ax.set_xticks(sorted(rows["instances"].dropna().unique()))
    ax.set_ylim(bottom=0)
    ax.set_title("Processor throughput vs partitions and consumer-group size")
    ax.grid(alpha=0.3)
    ax.legend(title="trades topic")
    return fig


def caption_scaling(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "partitions", "instances", "records_per_s", "worker_cores", "broker_cores",
                    "machine_cores").dropna(subset=["records_per_s"])
    best = rows.loc[rows["records_per_s"].idxmax()]
    single = rows[(rows["partitions"] == 1) & (rows["instances"] == 1)]["records_per_s"]
    text = (f"Fastest: {int(best['partitions'])} partition(s) with {int(best['instances'])} instance(s) at "
            f"{fmt(best['records_per_s'])} records/s")
    if len(single):
        text += f", {fmt(best['records_per_s'] / single.iloc[0])}× one instance on one partition"
    if {"worker_cores", "broker_cores"} <= set(rows.columns) and np.isfinite(best.get("worker_cores", np.nan)):
        used = best["worker_cores"] + best["broker_cores"]
        cores = f" of {int(best['machine_cores'])}" if np.isfinite(best.get("machine_cores", np.nan)) else ""
        text += (f"; there the processors used {fmt(best['worker_cores'], 2)} cores and the brokers "
                 f"{fmt(best['broker_cores'], 2)}, {fmt(used, 2)}{cores} cores in all")
    more = rows[rows["instances"] > rows["partitions"]]
    if len(more):
        text += "; instances beyond the partition count stay idle (busy_instances in the table)"
    return text + load_note(frame) + "."


def plot_scaling_cpu(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "partitions", "instances", "worker_cores", "broker_cores", "machine_cores")
    rows = rows.dropna(subset=["worker_cores", "broker_cores"]).sort_values(["partitions", "instances"])
    labels = [f"p{int(p)}\ni{int(i)}" for p, i in zip(rows["partitions"], rows["instances"])]
    fig = Figure(figsize=(max(6, 0.55 * len(rows) + 2), 4.2), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(rows))
    ax.bar(x, rows["worker_cores"], label="processor instances", color="#4c72b0")
    ax.bar(x, rows["broker_cores"], bottom=rows["worker_cores"], label="Kafka brokers", color="#8c8c8c")
    if rows["machine_cores"].notna().any():
        ax.axhline(rows["machine_cores"].max(), color="#c44e52", ls="--", lw=1, label="cores of the machine")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("cell: partitions (p) × instances (i)")
    ax.set_ylabel("CPU cores used (CPU s ÷ wall s)")
    ax.set_title("Where the cores go while the group drains the backlog")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def caption_scaling_cpu(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "worker_cores", "broker_cores", "machine_cores").dropna(subset=["worker_cores"])
    total = rows["worker_cores"] + rows["broker_cores"]
    cores = rows["machine_cores"].max()
    return (f"Processors and brokers together used {fmt(total.min(), 2)} to {fmt(total.max(), 2)} cores"
            + (f" of the machine's {int(cores)}" if np.isfinite(cores) else "")
            + ": when the bar reaches the dashed line, more instances only share the same cores.")


def plot_scaling_timeline(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "partitions", "instances", "t_s", "lag").dropna(subset=["t_s", "lag"])
    parts = sorted(rows["partitions"].unique())
    fig = Figure(figsize=(11, 3.2 * -(-len(parts) // 2) + 0.6), layout="constrained")
    axes = fig.subplots(-(-len(parts) // 2), min(2, len(parts)), squeeze=False, sharey=True)
    for ax, partitions in zip(axes.flat, parts):
        for instances, part in rows[rows["partitions"] == partitions].groupby("instances"):
            ax.plot(part["t_s"], part["lag"], label=f"{int(instances)} instance(s)")
        ax.set_title(f"{int(partitions)} partition(s)", fontsize=10, loc="left")
        ax.set_xlabel("time since the instances started (s)")
        ax.set_ylabel("consumer lag (records)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(parts):]:
        ax.set_visible(False)
    fig.suptitle("Backlog drained over time per cell (lag = backlog − records consumed)")
    return fig


def caption_scaling_timeline(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "t_s", "lag").dropna(subset=["t_s", "lag"])
    done = rows[rows["lag"] <= 0].groupby("cell")["t_s"].min() if "cell" in rows.columns else pd.Series(dtype=float)
    if done.empty:
        return "Lag per sample; no cell reached zero lag within the samples" + load_note(frame) + "."
    return (f"Lag reached zero after {fmt(done.min())} s (cell {done.idxmin()}) to {fmt(done.max())} s "
            f"(cell {done.idxmax()}); a steeper fall is a faster group.")
