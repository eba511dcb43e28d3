"""Read what the lab wrote under results/: pipeline CSVs and benchmark tables.

Nothing here talks to Kafka. Every loader returns a pandas DataFrame, or None when the
file is missing or holds no rows, so the report can say which command produces it.

Pipeline CSVs (results/data/, written by the sinks) accumulate across runs: a sink
resumes after what it wrote. Plots show one run, chosen by kafkalab.report.runs: the
latest complete one.

Benchmark tables (results/bench/<experiment>.csv, written by bench.common.append_rows)
also accumulate; every row carries `run_id` and `run_at`, and `latest_run` keeps the
rows of the most recent run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kafkalab.report import runs

US_PER_MS = 1_000
US_PER_S = 1_000_000

# stream name -> CSV file under results/data (the names kafkalab.core.csvstore declares)
PIPELINE_FILES: dict[str, str] = {
    "trades": "trades.csv",
    "candles": "candles.csv",
    "book_features": "book_features.csv",
}
STREAMS = tuple(PIPELINE_FILES)

# What to run when a file is missing (shown in the report instead of a plot).
PIPELINE_COMMAND = "make run"
PIPELINE_ALTERNATIVE = "kafkalab run --seconds 60"
BENCH_ALTERNATIVE = "make bench"  # every experiment


# ---- reading ---------------------------------------------------------------------------

def read_csv(path: Path) -> pd.DataFrame | None:
    """A CSV as a DataFrame; None if it is missing, empty or has a header only.

    A sink killed mid-write may leave one partial last line; such a line is skipped
    rather than failing the whole report.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        frame = pd.read_csv(path, on_bad_lines="skip")
    except pd.errors.EmptyDataError:
        return None
    return frame if len(frame) else None


def load_pipeline(results_dir: Path) -> dict[str, pd.DataFrame | None]:
    """trades, candles, book_features from results_dir/data (None where missing)."""
    data_dir = Path(results_dir) / "data"
    return {name: read_csv(data_dir / file) for name, file in PIPELINE_FILES.items()}


def bench_names(results_dir: Path) -> list[str]:
    """The experiments that have a table under results_dir/bench, sorted by name."""
    bench_dir = Path(results_dir) / "bench"
    if not bench_dir.is_dir():
        return []
    return sorted(p.stem for p in bench_dir.glob("*.csv") if p.is_file())


def latest_run(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of the most recent run (by run_at, then by position in the file)."""
    if frame is None or "run_id" not in frame.columns:
        return frame
    order = frame.assign(_pos=range(len(frame)))
    if "run_at" in frame.columns:
        stamps = pd.to_datetime(order["run_at"], utc=True, errors="coerce")
        order = order.assign(_at=stamps).sort_values(["_at", "_pos"], na_position="first")
    last_id = order["run_id"].iloc[-1]
    return frame[frame["run_id"] == last_id].reset_index(drop=True)


def load_bench(results_dir: Path, name: str, latest: bool = True) -> pd.DataFrame | None:
    """results_dir/bench/<name>.csv: the latest run's rows (or every row with latest=False)."""
    frame = read_csv(Path(results_dir) / "bench" / f"{name}.csv")
    return latest_run(frame) if latest else frame


def run_count(frame: pd.DataFrame | None) -> int:
    if frame is None:
        return 0
    return int(frame["run_id"].nunique()) if "run_id" in frame.columns else 1


@dataclass
class Results:
    """Everything the report shows, read once."""

    results_dir: Path
    pipeline: dict[str, pd.DataFrame | None]  # the run shown: the latest complete one
    pipeline_all: dict[str, pd.DataFrame | None]  # every row in the CSVs
    bench: dict[str, pd.DataFrame] = field(default_factory=dict)  # latest run per table
    bench_all: dict[str, pd.DataFrame] = field(default_factory=dict)  # every run
    run_note: str = ""  # why the run shown is not simply the latest one ("" when it is)
    profiles: pd.DataFrame | None = None  # results/profiles/summary.csv

    @property
    def trades(self) -> pd.DataFrame | None:
        return self.pipeline.get("trades")

    @property
    def candles(self) -> pd.DataFrame | None:
        return self.pipeline.get("candles")

    @property
    def book_features(self) -> pd.DataFrame | None:
        return self.pipeline.get("book_features")


def load_all(results_dir: Path) -> Results:
    results_dir = Path(results_dir)
    everything = load_pipeline(results_dir)
    bench_all = {n: f for n in bench_names(results_dir) if (f := load_bench(results_dir, n, latest=False)) is not None}
    shown = runs.choose_run(everything, runs.failed_components(results_dir))
    return Results(
        results_dir=results_dir,
        pipeline=shown.frames,
        pipeline_all=everything,
        bench={n: latest_run(f) for n, f in bench_all.items()},
        bench_all=bench_all,
        run_note=shown.note,
        profiles=latest_run(read_csv(results_dir / "profiles" / "summary.csv")),
    )


# ---- latency ---------------------------------------------------------------------------

def latency_ms(frame: pd.DataFrame, start: str = "produced_ts_us", end: str = "written_ts_us") -> pd.Series:
    """Per-row latency end - start in milliseconds (rows missing either time dropped)."""
    delta = pd.to_numeric(frame[end], errors="coerce") - pd.to_numeric(frame[start], errors="coerce")
    return (delta / US_PER_MS).dropna().rename("latency_ms")


def latency_summary(frames: dict[str, pd.DataFrame | None], quantiles=(0.5, 0.9, 0.99)) -> pd.DataFrame:
    """One row per stream present: count, percentiles (ms), mean and max (ms)."""
    rows = []
    for name, frame in frames.items():
        if frame is None or not {"produced_ts_us", "written_ts_us"} <= set(frame.columns):
            continue
        values = latency_ms(frame)
        if values.empty:
            continue
        row = {"stream": name, "count": int(len(values))}
        row.update({f"p{round(q * 100):d}_ms": float(values.quantile(q)) for q in quantiles})
        row.update({"mean_ms": float(values.mean()), "max_ms": float(values.max())})
        rows.append(row)
    return pd.DataFrame(rows)


# What a latency is measured from, per stream: a trade from when its producer sent it; a
# candle or a feature row both from the end of its window (what the desk waits for) and
# from when the processor produced it (the Kafka hops alone).
LATENCY_VIEWS: tuple[tuple[str, str, str], ...] = (
    ("trades", "produced_ts_us", "trades (generator → CSV)"),
    ("candles", "window_end_us", "candles (window end → CSV)"),
    ("candles", "produced_ts_us", "candles (processor → CSV)"),
    ("book_features", "window_end_us", "book features (window end → CSV)"),
    ("book_features", "produced_ts_us", "book features (processor → CSV)"),
)


def latency_views(frames: dict[str, pd.DataFrame | None]) -> dict[str, pd.Series]:
    """label -> latency in ms to the CSV row, for each view whose columns are present."""
    out = {}
    for stream, start, label in LATENCY_VIEWS:
        frame = frames.get(stream)
        if frame is None or not {start, "written_ts_us"} <= set(frame.columns):
            continue
        values = latency_ms(frame, start=start)
        if len(values):
            out[label] = values
    return out


def ecdf(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and the fraction of values at or below each."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, np.arange(1, len(x) + 1) / len(x) if len(x) else np.array([])


# ---- rates over time -------------------------------------------------------------------

# component -> (stream, timestamp column, weight column or None). The order-book
# generator has no CSV of its own: its snapshots are counted through the features'
# snapshot_count per window (so its timeline is in event time, one point per window).
RATE_SOURCES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "trade generator": (("trades", "produced_ts_us", None),),
    "order-book generator": (("book_features", "window_start_us", "snapshot_count"),),
    "market processor": (("candles", "produced_ts_us", None), ("book_features", "produced_ts_us", None)),
    "trades sink": (("trades", "written_ts_us", None),),
    "candles sink": (("candles", "written_ts_us", None), ("book_features", "written_ts_us", None)),
}


def _events(frames: dict[str, pd.DataFrame | None], sources) -> tuple[np.ndarray, np.ndarray]:
    times, weights = [], []
    for stream, column, weight in sources:
        frame = frames.get(stream)
        if frame is None or column not in frame.columns or (weight and weight not in frame.columns):
            continue
        t = pd.to_numeric(frame[column], errors="coerce")
        w = pd.to_numeric(frame[weight], errors="coerce") if weight else pd.Series(1.0, index=frame.index)
        ok = t.notna() & w.notna()
        times.append(t[ok].to_numpy(dtype=float))
        weights.append(w[ok].to_numpy(dtype=float))
    if not times:
        return np.array([]), np.array([])
    return np.concatenate(times), np.concatenate(weights)


def _last_bin_partial(rel_s: np.ndarray, bin_s: float) -> bool:
    """Did the component stop well before its last bin ended (a rate drop that is only the cut)?"""
    times = np.sort(rel_s)
    gap = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    covered = (times[-1] - (times[-1] // bin_s) * bin_s + gap) / bin_s
    return covered < 0.95


def message_rates(frames: dict[str, pd.DataFrame | None], bin_s: float = 1.0) -> pd.DataFrame:
    """Messages per second per component in bins of bin_s, on one clock.

    Columns: component, t_s (bin start, seconds since the earliest time seen),
    rate_per_s, drain (the bin starts after the last trade was produced: consumers
    catching up). A component's last bin is left out when it stopped early in it: that
    bin would show a drop that did not happen. Components without data are left out.
    """
    events = {name: _events(frames, sources) for name, sources in RATE_SOURCES.items()}
    starts = [t.min() for t, _ in events.values() if len(t)]
    if not starts:
        return pd.DataFrame(columns=["component", "t_s", "rate_per_s", "drain"])
    t0 = min(starts)
    trades_sent = events["trade generator"][0]
    production_end_s = (trades_sent.max() - t0) / US_PER_S if len(trades_sent) else np.inf
    parts = []
    for name, (t, w) in events.items():
        if not len(t):
            continue
        rel = (t - t0) / US_PER_S
        # Bins [k*bin_s, (k+1)*bin_s): the last edge lies strictly beyond the latest time.
        edges = np.arange(int(rel.max() // bin_s) + 2) * bin_s
        counts, _ = np.histogram(rel, bins=edges, weights=w)
        # A component's timeline starts at its first message, not at the shared t0.
        first = int(rel.min() // bin_s)
        starts_s, rate = edges[first:-1], counts[first:] / bin_s
        if len(starts_s) > 1 and _last_bin_partial(rel, bin_s):
            starts_s, rate = starts_s[:-1], rate[:-1]
        parts.append(pd.DataFrame({"component": name, "t_s": starts_s, "rate_per_s": rate,
                                   "drain": starts_s >= production_end_s}))
    return pd.concat(parts, ignore_index=True)


# The plot's panels: what goes in next to what comes out, per stream.
RATE_PANELS: dict[str, tuple[str, ...]] = {
    "trades: sent by the generator, written by the trades sink": ("trade generator", "trades sink"),
    "candles + book features: produced by the processor, written by the candles sink": ("market processor",
                                                                                        "candles sink"),
    "order-book snapshots: sent by the generator (counted per feature window)": ("order-book generator",),
}


def mean_rates(rates: pd.DataFrame, trim_bins: int = 1) -> pd.Series:
    """Mean rate per component while the generators ran, leaving out its first (partial) bin."""
    out = {}
    steady = rates[~rates["drain"].astype(bool)] if "drain" in rates.columns else rates
    for name, part in steady.groupby("component", sort=False):
        body = part.iloc[trim_bins:] if len(part) > trim_bins else part
        out[name] = float(body["rate_per_s"].mean())
    return pd.Series(out, name="mean_rate_per_s")


def numeric(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy with the named columns (those present) as numbers; unparsable values become NaN.

    CSV columns appended by different runs may hold text (an empty cell, a note), so
    every plot and explanation converts the columns it reads.
    """
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce")
    return out
