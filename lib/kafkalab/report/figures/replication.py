"""Part 2: what replication costs, and producing through a broker failure (results/bench/replication*.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import CLIENT_COLORS, clients_first, fmt, grouped_bars, load_note


def _replication_throughput(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["kind"] == "throughput"] if "kind" in frame.columns else frame
    rows = results.numeric(rows, "replication_factor", "records_per_s", "latency_p99_ms", "rf3_vs_rf1")
    rows = rows.dropna(subset=["records_per_s"]).copy()
    rows["case"] = "RF " + rows["replication_factor"].astype(int).astype(str) + ", acks=" + rows["acks"].astype(str)
    return rows.sort_values(["replication_factor", "acks"])


def plot_replication_throughput(frame: pd.DataFrame) -> Figure:
    rows = _replication_throughput(frame)
    order = list(dict.fromkeys(rows["case"]))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_rate, ax_lat = fig.subplots(1, 2)
    rate = rows.pivot_table(index="case", columns="client", values="records_per_s", aggfunc="mean").reindex(order)
    grouped_bars(ax_rate, clients_first(rate), CLIENT_COLORS, fmt=lambda v: f"{v:,.0f}")
    sizes = pd.to_numeric(rows.get("record_bytes", pd.Series(dtype=float)), errors="coerce").dropna().unique()
    ax_rate.set_ylabel("records per second" + (f" ({int(sizes[0]):,} B records)" if len(sizes) == 1 else ""))
    ax_rate.set_xlabel("replication factor, producer acks")
    ax_rate.set_title("throughput")
    ax_rate.legend(fontsize=8)
    lat = rows.pivot_table(index="case", columns="client", values="latency_p99_ms", aggfunc="mean").reindex(order)
    grouped_bars(ax_lat, clients_first(lat), CLIENT_COLORS, log=True)
    ax_lat.set_ylabel("p99 latency send → ack (ms, log scale)")
    ax_lat.set_xlabel("replication factor, producer acks")
    ax_lat.set_title("p99 latency")
    fig.suptitle("What replication costs: replication factor 1 vs 3, acks=1 vs all")
    return fig


def caption_replication_throughput(frame: pd.DataFrame) -> str:
    rows = _replication_throughput(frame)
    parts = []
    for client, part in rows.groupby("client", sort=False):
        rf3 = part[(part["replication_factor"] == 3) & (part["acks"].astype(str) == "all")]
        if len(rf3) and "rf3_vs_rf1" in part.columns and np.isfinite(rf3["rf3_vs_rf1"].iloc[0]):
            parts.append(f"{client}: RF 3 with acks=all reaches {fmt(rf3['rf3_vs_rf1'].iloc[0], 2)}× its RF 1 rate "
                         f"({fmt(rf3['records_per_s'].iloc[0])} records/s, p99 {fmt(rf3['latency_p99_ms'].iloc[0])} ms)")
    return ("; ".join(parts) or "Throughput per replication factor and acks") + load_note(frame) + "."


def plot_failure_timeline(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "t_s", "sent", "acked", "errors", "client_errors", "latency_p99_ms", "latency_max_ms",
                    "brokers_up").sort_values("t_s")
    fig = Figure(figsize=(11, 6.8), layout="constrained")
    ax_rate, ax_err, ax_lat = fig.subplots(3, 1, sharex=True, height_ratios=[2, 1, 1.6])
    ax_rate.step(rows["t_s"], rows["sent"], where="post", label="sent", color="#8c8c8c")
    ax_rate.step(rows["t_s"], rows["acked"], where="post", label="acknowledged", color="#4c72b0")
    ax_rate.set_ylabel("records per second")
    ax_rate.set_ylim(bottom=0)
    ax_rate.legend(fontsize=8, loc="lower left")
    ax_err.step(rows["t_s"], rows["errors"].fillna(0), where="post", label="delivery errors", color="#c44e52")
    if "client_errors" in rows.columns:
        ax_err.step(rows["t_s"], rows["client_errors"].fillna(0), where="post", label="client errors", color="#dd8452")
    ax_err.set_ylabel("errors per second")
    ax_err.legend(fontsize=8, loc="upper left")
    for column, label in (("latency_p99_ms", "p99"), ("latency_max_ms", "max")):
        if column in rows.columns:
            ax_lat.plot(rows["t_s"], rows[column].where(rows[column] > 0), marker=".", label=label)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency send → ack (ms, log)")
    ax_lat.set_xlabel("time since the start of the run (s)")
    ax_lat.legend(fontsize=8, loc="upper left")
    if "event" in rows.columns:
        for t, event in rows.dropna(subset=["event"])[["t_s", "event"]].itertuples(index=False):
            for ax in (ax_rate, ax_err, ax_lat):
                ax.axvline(t, color="#c44e52" if "kill" in str(event) else "#55a868", ls="--", lw=1)
            ax_rate.annotate(str(event), (t, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top",
                             ha="right", fontsize=8)
    for ax in (ax_rate, ax_err, ax_lat):
        ax.grid(alpha=0.3)
    fig.suptitle("Producing through a broker failure: acks=all, RF 3, min ISR 2, idempotent producer")
    return fig


def caption_failure(timeline: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    rows = results.numeric(timeline, "t_s", "errors")
    text = f"{len(rows)} seconds shown"
    if "event" in rows.columns:
        events = [f"{e} at {fmt(t)} s" for t, e in rows.dropna(subset=["event"])[["t_s", "event"]].itertuples(index=False)]
        text += " (" + ", ".join(events) + ")" if events else ""
    if summary is not None and "kind" in summary.columns:
        failure = summary[summary["kind"] == "failure"]
        if len(failure):
            f = failure.iloc[-1]
            text += (f"; of {int(f['acked']):,} acknowledged records {int(f['lost'])} were lost and "
                     f"{int(f['duplicates'])} duplicated; the longest stall without acknowledgements lasted "
                     f"{fmt(float(f['longest_stall_s']))} s")
            if "isr_full_after_restart_s" in f and pd.notna(f["isr_full_after_restart_s"]):
                text += f", and all replicas were back in sync {fmt(float(f['isr_full_after_restart_s']))} s after the restart"
    return text + "."


def caption_failure_timeline(timeline: pd.DataFrame, bench: dict | None) -> str:
    """The failure caption with the kill's summary row from the replication table."""
    return caption_failure(timeline, (bench or {}).get("replication"))
