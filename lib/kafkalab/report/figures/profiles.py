"""Part 4: the components under cProfile (results/profiles/summary.csv).

One summary row per profiled component (and scenario): transport, component, the
loop-iteration time as a mean and a standard deviation over runs, records per second,
and the top functions by own time, by cumulative time and by call count. Column names
are matched by meaning (`...mean...`, `...sd...`/`...std...`, `records_per_s`) so the
figure follows the profiler's table rather than a copy of its column list.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, load_note

KEY_COLUMNS = ("transport", "component", "scenario", "serializer", "rate_hz")


def _column(frame: pd.DataFrame, *patterns: str) -> str | None:
    for pattern in patterns:
        found = [c for c in frame.columns if re.search(pattern, str(c))]
        if found:
            return found[0]
    return None


def loop_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """(mean, standard deviation) of the loop-iteration time, by name."""
    mean = _column(frame, r"(loop|iter).*mean", r"mean.*(loop|iter)", r"mean_(us|ms)$")
    sd = _column(frame, r"(loop|iter).*(_sd|std)", r"(sd|std).*(loop|iter)", r"(_sd|std)_(us|ms)$")
    return mean, sd


def _unit(column: str) -> str:
    return "µs" if column.endswith("_us") else "ms" if column.endswith("_ms") else "s" if column.endswith("_s") else ""


def labels(frame: pd.DataFrame) -> pd.Series:
    keys = [c for c in KEY_COLUMNS if c in frame.columns and frame[c].notna().any()]
    return frame[keys].astype(str).agg(" / ".join, axis=1) if keys else pd.Series(frame.index.astype(str))


def plot_loop_times(frame: pd.DataFrame) -> Figure:
    mean, sd = loop_columns(frame)
    if mean is None:
        raise ValueError("summary.csv has no loop-iteration mean column")
    rows = results.numeric(frame, mean, *(c for c in [sd] if c)).dropna(subset=[mean])
    names = labels(rows)
    fig = Figure(figsize=(10, max(3.2, 0.42 * len(rows) + 1.6)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y, rows[mean], xerr=rows[sd] if sd else None, color="#4c72b0", capsize=3, alpha=0.9)
    ax.set_yticks(y, list(names))
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"time per loop iteration ({_unit(mean)}, mean ± sd over runs, log scale)")
    ax.set_ylabel("transport / component (scenario)")
    ax.set_title("Where each component's loop spends its time per iteration")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def caption_loop_times(frame: pd.DataFrame) -> str:
    mean, sd = loop_columns(frame)
    rate = _column(frame, r"^records_per_s$", r"records_per_s$")
    rows = results.numeric(frame, *(c for c in (mean, sd, rate) if c)).dropna(subset=[mean])
    unit = _unit(mean)
    parts = []
    for name, row in zip(labels(rows), rows.itertuples(index=False)):
        values = row._asdict()
        text = f"{name}: {fmt(values[mean])}" + (f" ± {fmt(values[sd])}" if sd else "") + f" {unit}"
        if rate and np.isfinite(values.get(rate, np.nan)):
            text += f" at {fmt(values[rate])} records/s"
        parts.append(text)
    return "Loop iteration, mean ± sd over runs: " + "; ".join(parts) + load_note(frame) + "."


def top_function_columns(frame: pd.DataFrame) -> list[str]:
    """The text columns naming the heaviest functions (by own time, cumulative time, calls)."""
    return [c for c in frame.columns if str(c).startswith("top")]
