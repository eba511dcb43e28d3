"""Part 4, the profiler's own figures: records/s with and without cProfile, where the CPU went
by thread (what cProfile cannot see), and the heaviest functions by own time.

Reads results/profiles/summary.csv and functions.csv (kafkalab.bench.profile). Several
`kafkalab profile` commands write there, each with its own run_id (the all-components
profile, a serializer experiment, a rate experiment): a workload's latest row is kept,
whichever command measured it. `show(config, res)` is what the report's Part 4 calls.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

WORKLOAD_KEYS = ["transport", "component", "rate_hz", "serializer"]
TOP_FUNCTIONS = 8
THREAD_GROUPS = (("rdk:broker", "librdkafka broker threads"), ("rdk:", "librdkafka other threads"))


def read_table(path: Path) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError):
        return None
    return frame if len(frame) else None


def latest_per_workload(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest row of each (transport, component, rate, serializer)."""
    ordered = frame.sort_values("run_at", kind="stable")
    return ordered.drop_duplicates(WORKLOAD_KEYS, keep="last").reset_index(drop=True)


def label(row) -> str:
    rate = "saturation" if not float(row["rate_hz"]) else f"{float(row['rate_hz']):g}/s"
    return f"{row['component']} ({rate}, {row['serializer']})"


def plot_records_per_s(summary: pd.DataFrame) -> Figure:
    """Records per second of each workload under cProfile (mean ± sd over runs) and without it."""
    rows = latest_per_workload(summary)
    fig = Figure(figsize=(10, 0.5 * len(rows) + 1.8), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y - 0.2, rows["records_per_s"], 0.4, xerr=rows["records_per_s_sd"], capsize=3,
            color="#4c72b0", label="under cProfile (mean ± sd over runs)")
    if "unprofiled_records_per_s" in rows:
        ax.barh(y + 0.2, rows["unprofiled_records_per_s"], 0.4, color="#dd8452", label="without cProfile (py-spy run)")
    ax.set_yticks(y, [label(r) for _, r in rows.iterrows()])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("records per second (log scale)")
    ax.set_title("Records per second of each component, with and without the deterministic profiler")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def caption_records_per_s(summary: pd.DataFrame) -> str:
    rows = latest_per_workload(summary)
    parts = []
    for _, r in rows.iterrows():
        text = f"{label(r)}: {r['records_per_s']:,.0f} ± {r['records_per_s_sd']:,.0f}/s profiled"
        if pd.notna(r.get("unprofiled_records_per_s")):
            text += f", {r['unprofiled_records_per_s']:,.0f}/s without cProfile"
        parts.append(text)
    load = rows["load_avg_1m"].mean() if "load_avg_1m" in rows else float("nan")
    note = f" Machine load average during the runs: {load:.1f} on 2 cores." if np.isfinite(load) else ""
    return "; ".join(parts) + "." + note


def thread_groups(cell: str) -> dict[str, float]:
    """'python 1.2s; rdk:broker1 0.3s; ...' -> CPU seconds per group of threads."""
    groups: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in str(cell).split(";"))):
        name, _, seconds = item.rpartition(" ")
        group = next((title for prefix, title in THREAD_GROUPS if name.startswith(prefix)), "Python threads")
        groups[group] = groups.get(group, 0.0) + float(seconds.rstrip("s") or 0)
    return groups


def plot_thread_cpu(summary: pd.DataFrame) -> Figure:
    """CPU seconds per run by thread group, from /proc: librdkafka's threads are invisible to cProfile."""
    rows = latest_per_workload(summary)
    table = pd.DataFrame([thread_groups(c) for c in rows["thread_cpu"].fillna("")]).fillna(0.0)
    fig = Figure(figsize=(10, 0.5 * len(rows) + 1.8), layout="constrained")
    ax = fig.subplots()
    left = np.zeros(len(rows))
    for column, color in zip(table.columns, ("#4c72b0", "#55a868", "#c44e52", "#8172b2")):
        ax.barh(np.arange(len(rows)), table[column], left=left, color=color, label=column)
        left += table[column].to_numpy()
    ax.set_yticks(np.arange(len(rows)), [label(r) for _, r in rows.iterrows()])
    ax.invert_yaxis()
    ax.set_xlabel("CPU seconds per run (user + system, from /proc)")
    ax.set_title("Where each component's CPU went, by thread")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_top_functions(functions: pd.DataFrame, component: str = "market-processor") -> Figure:
    """The functions with the most own time in one component's latest saturation profile."""
    newest = functions.groupby(WORKLOAD_KEYS)["run_at"].transform("max")
    rows = functions[(functions["run_at"] == newest) & (functions["component"] == component)
                     & (functions["rate_hz"] == 0)]
    cells = rows.drop_duplicates(WORKLOAD_KEYS)
    fig = Figure(figsize=(11, 2.6 * max(len(cells), 1) + 0.8), layout="constrained")
    axes = fig.subplots(max(len(cells), 1), 1, squeeze=False)[:, 0]
    for ax, (_, cell) in zip(axes, cells.iterrows()):
        own = rows[rows["serializer"] == cell["serializer"]].sort_values("rank").head(TOP_FUNCTIONS)
        ax.barh(np.arange(len(own)), own["own_share"] * 100, color="#4c72b0")
        ax.set_yticks(np.arange(len(own)), [str(f)[-70:] for f in own["function"]], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(label(cell), fontsize=9, loc="left")
        ax.set_xlabel("share of profiled time spent in the function itself (%)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{component}: the functions with the most own time (cProfile, all runs)")
    return fig


def show(config, res) -> None:
    """Part 4's profiler figures (called by kafkalab.report.sections.part4)."""
    from IPython.display import Markdown, display

    folder = Path(res.results_dir) / "profiles"
    summary = read_table(folder / "summary.csv")
    functions = read_table(folder / "functions.csv")
    if summary is None:
        display(Markdown("No profiles yet: run `kafkalab profile all`."))
        return
    display(Markdown("### Records per second, with and without cProfile"))
    display(plot_records_per_s(summary))
    display(Markdown(caption_records_per_s(summary)))
    if "thread_cpu" in summary:  # summaries written before per-thread CPU was recorded lack it
        display(Markdown("### CPU by thread: what cProfile does not see"))
        display(plot_thread_cpu(summary))
    rows = latest_per_workload(summary)
    spy = rows[["component", "rate_hz", "serializer", "spy_top_frames"]].dropna() if "spy_top_frames" in rows else None
    if spy is not None and len(spy):
        display(Markdown("### What py-spy saw (innermost frames, share of samples)"))
        display(spy)
    if functions is not None:
        display(Markdown("### The heaviest functions of the processor"))
        display(plot_top_functions(functions))
