"""What every figures module shares: number formats, time axes, bars, heat maps, notes on the run.

The report's plots live in one module per concern beside this one (pipeline, serializers,
clients, scaling, replication, load, deepdives, transports, profiles): one function per
plot, each returning a matplotlib Figure.

Every plot has a title and axis labels with units. Next to each plot function is a
`caption_*` helper that returns one sentence whose numbers are computed from the same
data, so the report never states a number the data could contradict.

Figures are created with `matplotlib.figure.Figure` (not pyplot): nothing is shown or
kept open behind the caller's back; the report renders each figure once, to PNG.
"""

from __future__ import annotations

from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")  # headless: the report runs under papermill, in CI, without a display

import matplotlib.dates as mdates
import numpy as np
import pandas as pd


UP_COLOR = "#2a9d8f"
DOWN_COLOR = "#e76f51"
STREAM_LABELS = {"trades": "trades", "candles": "candles", "book_features": "book features"}


def fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, thousands separated (1,234 / 0.0123)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"


def utc(us: pd.Series | np.ndarray) -> np.ndarray:
    """Microseconds since the epoch -> matplotlib date numbers (UTC)."""
    return mdates.date2num(pd.to_datetime(np.asarray(us, dtype="int64"), unit="us", utc=True).tz_localize(None))


def clock(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))


# ---- benchmark tables ---------------------------------------------------------------------

# Columns bench.common.append_rows adds to every row: shown once in the report, not per table.
MACHINE_COLUMNS = frozenset({
    "run_id", "run_at", "machine_cores", "machine_mem_gib", "machine_cpu", "python", "kafka_version",
    "confluent_kafka", "librdkafka", "kafka_python", "quick",
})

def apply(fn, frame: pd.DataFrame, bench: dict | None):
    """Call a plot or caption with (frame, bench) if it takes two arguments, else with (frame)."""
    import inspect

    return fn(frame, bench) if len(inspect.signature(fn).parameters) >= 2 else fn(frame)


FORMAT_COLORS = {"json": "#8c8c8c", "msgpack": "#4c72b0", "avro": "#dd8452"}
CLIENT_COLORS = {"java": "#4d4d4d", "confluent-kafka": "#4c72b0", "kafka-python": "#dd8452"}


def quick_note(frame: pd.DataFrame) -> str:
    """Say so when the latest run was a --quick one (small samples: indicative only)."""
    if "quick" in frame.columns and frame["quick"].astype(str).str.lower().eq("true").any():
        return " (latest run used --quick: small samples, indicative only)"
    return ""


def grouped_bars(ax, table: pd.DataFrame, colors: dict[str, str] | None = None, log: bool = False,
                  fmt=fmt) -> None:
    """Bars of table (index = groups on the x axis, columns = series), labelled with values."""
    groups, series = list(table.index), list(table.columns)
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, name in enumerate(series):
        values = table[name].to_numpy(dtype=float)
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=str(name),
                      color=(colors or {}).get(name))
        ax.bar_label(bars, labels=[fmt(v) if np.isfinite(v) else "" for v in values], fontsize=7, padding=1)
    ax.set_xticks(x, [str(g) for g in groups])
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)



def heatmap(ax, table: pd.DataFrame, fmt=lambda v: f"{v:.2f}", cmap: str = "RdYlGn", center: float = 1.0):
    """Annotated heat map of table (rows x columns); colours log-centred on `center`."""
    from matplotlib.colors import LogNorm

    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    spread = max(float(np.abs(np.log10(finite / center)).max()) if finite.size else 1.0, 0.3)
    norm = LogNorm(vmin=center / 10 ** spread, vmax=center * 10 ** spread)
    image = ax.imshow(np.where(values > 0, values, np.nan), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index])
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=8)
    return image


def ratio_colorbar(fig, image, axes) -> None:
    from matplotlib.ticker import FuncFormatter

    bar = fig.colorbar(image, ax=axes, label="ratio to Java (records/s)")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, 2)))
    bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def hbars(ax, table: pd.DataFrame, colors: dict[str, str]) -> None:
    """Horizontal grouped bars: index = categories (top to bottom), columns = series."""
    rows, series = list(table.index), list(table.columns)
    height = 0.8 / max(len(series), 1)
    y = np.arange(len(rows))
    for i, name in enumerate(series):
        ax.barh(y + (i - (len(series) - 1) / 2) * height, table[name].to_numpy(dtype=float), height,
                label=str(name), color=colors.get(name))
    ax.set_yticks(y, [str(r) for r in rows])
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3, which="both")


def load_note(frame: pd.DataFrame) -> str:
    """The machine's load during the run: numbers on a busy 2-core box are lower bounds."""
    note = quick_note(frame)
    if "load_avg_1m" in frame.columns and frame["load_avg_1m"].notna().any():
        note += f"; 1-min load average during the run {fmt(frame['load_avg_1m'].min(), 2)}–{fmt(frame['load_avg_1m'].max(), 2)}"
        if "machine_cores" in frame.columns:
            note += f" on {frame['machine_cores'].iloc[0]} cores"
    return note


def clients_first(table: pd.DataFrame) -> pd.DataFrame:
    """Columns in the order java, confluent-kafka, kafka-python, then anything else."""
    known = [c for c in CLIENT_COLORS if c in table.columns]
    return table[known + [c for c in table.columns if c not in known]]


def format_order(formats) -> list[str]:
    known = [f for f in FORMAT_COLORS if f in set(formats)]
    return known + sorted(set(formats) - set(known))
