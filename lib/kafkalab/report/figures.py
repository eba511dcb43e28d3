"""The report's plots: one function per plot, each returning a matplotlib Figure.

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
from matplotlib.figure import Figure

from kafkalab.report import results

UP_COLOR = "#2a9d8f"
DOWN_COLOR = "#e76f51"
STREAM_LABELS = {"trades": "trades", "candles": "candles", "book_features": "book features"}


def _fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, thousands separated (1,234 / 0.0123)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"


def _utc(us: pd.Series | np.ndarray) -> np.ndarray:
    """Microseconds since the epoch -> matplotlib date numbers (UTC)."""
    return mdates.date2num(pd.to_datetime(np.asarray(us, dtype="int64"), unit="us", utc=True).tz_localize(None))


def _clock(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _time_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))


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
        ax.plot(_utc(own["event_ts_us"]), own["price"], color="0.55", lw=0.7, marker=".", ms=2.5,
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
        _time_axis(ax)
    if len(symbols) % ncols:  # the last row is incomplete: label the axis above the gap too
        above = axes[-2, -1]
        above.xaxis.set_tick_params(labelbottom=True)
        above.set_xlabel("event time (UTC, hh:mm:ss)")
    fig.suptitle("Trade prices and 1-second candles per symbol (latest run)")
    return fig


def _draw_candles(ax, candles: pd.DataFrame) -> None:
    if candles.empty:
        return
    start, end = _utc(candles["window_start_us"]), _utc(candles["window_end_us"])
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
    text = (f"{len(trades):,} trades of {trades['symbol'].nunique()} symbols over {_fmt(span_s)} s "
            f"(from {_clock(first)})")
    if candles is not None:
        text += f", summarised in {len(candles):,} one-second candles"
    text += (f"; the high-low range of a symbol's price was {_fmt(moves.min(), 2)} % to "
             f"{_fmt(moves.max(), 2)} % of its mean, so the symbols differ in volatility")
    if all_trades is not None and len(all_trades) > len(trades):
        text += f" (the CSV holds {len(all_trades):,} trades from earlier runs too; shown: the latest run)"
    return text + "."


# ---- end-to-end latency -----------------------------------------------------------------

def plot_latency_cdf(frames: dict[str, pd.DataFrame | None]) -> Figure:
    """Cumulative distribution of produced -> written latency per stream, log-scaled."""
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    ax = fig.subplots()
    for name, frame in frames.items():
        if frame is None:
            continue
        x, y = results.ecdf(results.latency_ms(frame))
        if len(x):
            ax.step(np.maximum(x, 1e-3), y, where="post", label=f"{STREAM_LABELS.get(name, name)} (n={len(x):,})")
    for q in (0.5, 0.99):
        ax.axhline(q, color="0.6", lw=0.8, ls=":")
        ax.annotate(f"p{round(q * 100)}", (1.0, q), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency produced → written to CSV (ms, log scale)")
    ax.set_ylabel("fraction of records ≤ latency")
    ax.set_title("End-to-end latency per stream (CDF, latest run)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right")
    return fig


def caption_latency(frames: dict[str, pd.DataFrame | None]) -> str:
    table = results.latency_summary(frames)
    parts = [f"{STREAM_LABELS.get(r.stream, r.stream)} p50 {_fmt(r.p50_ms)} ms, p99 {_fmt(r.p99_ms)} ms "
             f"(n={r.count:,})" for r in table.itertuples()]
    return ("From the moment a producer handed a record to Kafka until a sink wrote its CSV row: "
            + "; ".join(parts) + ". Candles and book features are produced when their window closes, "
            "so their latency starts at the processor, not at the trade.")


# ---- message rates ----------------------------------------------------------------------

RATE_STYLES = {"trade generator": "-", "order-book generator": "-", "market processor": "-.",
               "trades sink": "--", "candles sink": "--"}


def plot_message_rates(rates: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.subplots()
    for name, part in rates.groupby("component", sort=False):
        ax.step(part["t_s"], part["rate_per_s"], where="post", label=name, lw=1.4,
                ls=RATE_STYLES.get(name, "-"), alpha=0.9)
    positive = rates.loc[rates["rate_per_s"] > 0, "rate_per_s"]
    wide = len(positive) and positive.max() / positive.min() > 30
    if wide:  # e.g. thousands of trades/s next to a few candles/s
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("time since the first message of the run (s)")
    ax.set_ylabel("messages per second (1-s bins" + (", log scale)" if wide else ")"))
    ax.set_title("Message rate over time per component (latest run)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


def caption_message_rates(rates: pd.DataFrame) -> str:
    means = results.mean_rates(rates)
    parts = [f"{name} {_fmt(value)}/s" for name, value in means.items()]
    return ("Mean rates without the first and last (partial) second: " + ", ".join(parts) +
            ". Generators and the processor are timed by when they produced, the sinks by when "
            "they wrote; the order-book generator is counted through the snapshots each feature "
            "window saw.")


# ---- benchmark tables ---------------------------------------------------------------------

# Columns bench.common.append_rows adds to every row: shown once in the report, not per table.
MACHINE_COLUMNS = frozenset({
    "run_id", "run_at", "machine_cores", "machine_mem_gib", "machine_cpu", "python", "kafka_version",
    "confluent_kafka", "librdkafka", "kafka_python", "quick",
})

# table -> [(what, plot(frame) -> Figure, caption(frame, bench) -> str)], filled below. `bench`
# holds every table's latest run, for a caption that needs a second table.
BENCH_PLOTS: dict[str, list[tuple[str, object, object]]] = {}


def _own(caption):
    """A caption that needs only its own table."""
    return lambda frame, bench=None: caption(frame)


def apply(fn, frame: pd.DataFrame, bench: dict | None):
    """Call a plot or caption with (frame, bench) if it takes two arguments, else with (frame)."""
    import inspect

    return fn(frame, bench) if len(inspect.signature(fn).parameters) >= 2 else fn(frame)

FORMAT_COLORS = {"json": "#8c8c8c", "msgpack": "#4c72b0", "avro": "#dd8452"}
CLIENT_COLORS = {"java": "#4d4d4d", "confluent-kafka": "#4c72b0", "kafka-python": "#dd8452"}


def _quick_note(frame: pd.DataFrame) -> str:
    """Say so when the latest run was a --quick one (small samples: indicative only)."""
    if "quick" in frame.columns and frame["quick"].astype(str).str.lower().eq("true").any():
        return " (latest run used --quick: small samples, indicative only)"
    return ""


def _grouped_bars(ax, table: pd.DataFrame, colors: dict[str, str] | None = None, log: bool = False,
                  fmt=_fmt) -> None:
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


# ---- serializers ------------------------------------------------------------------------

def _codec_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["kind"] == "codec"] if "kind" in frame.columns else frame
    return rows.dropna(subset=["bytes_per_msg"])


def _format_order(formats) -> list[str]:
    known = [f for f in FORMAT_COLORS if f in set(formats)]
    return known + sorted(set(formats) - set(known))


def plot_serializer_sizes(frame: pd.DataFrame) -> Figure:
    codec = _codec_rows(frame)
    table = codec.pivot_table(index="message_type", columns="format", values="bytes_per_msg", aggfunc="mean")
    table = table[_format_order(table.columns)]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, table, FORMAT_COLORS, log=True, fmt=lambda v: f"{v:,.0f}")
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
        others = [f"{fmt} {_fmt(row[fmt] / row['json'] * 100, 2)} %" for fmt in _format_order(row.index)
                  if fmt != "json" and np.isfinite(row[fmt])]
        parts.append(f"{mtype} {_fmt(row['json'], 3)} B in JSON ({', '.join(others)} of that)")
    return "Mean payload size per message: " + "; ".join(parts) + _quick_note(frame) + "."


def plot_serializer_times(frame: pd.DataFrame) -> Figure:
    codec = _codec_rows(frame)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, what in ((axes[0], "encode_us", "encode"), (axes[1], "decode_us", "decode + validate")):
        table = codec.pivot_table(index="message_type", columns="format", values=column, aggfunc="mean")
        _grouped_bars(ax, table[_format_order(table.columns)], FORMAT_COLORS, log=True)
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
        enc = ", ".join(f"{f} {_fmt(rows.loc[f, 'encode_us'])}" for f in _format_order(rows.index))
        dec = ", ".join(f"{f} {_fmt(rows.loc[f, 'decode_us'])}" for f in _format_order(rows.index))
        parts.append(f"{mtype}: encode {enc} µs; decode {dec} µs")
    return ("Per message, including the message <-> dict conversion and validation the application pays: "
            + " | ".join(parts) + _quick_note(frame) + ".")


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
        _grouped_bars(ax, table[_format_order(table.columns)], FORMAT_COLORS, fmt=lambda v: f"{v:,.0f}")
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
        parts.append(f"{mtype} ({comp}): {best} fastest at {_fmt(row[best])} records/s"
                     + (f", JSON {_fmt(row['json'])}" if best != "json" and "json" in row else ""))
    n = int(rows["repeat"].nunique()) if "repeat" in rows.columns else 1
    return ("One confluent-kafka producer, encoding included, median of "
            f"{n} repeat(s): " + "; ".join(parts) + _quick_note(frame) + ".")


BENCH_PLOTS["serializers"] = [
    ("serializer sizes", plot_serializer_sizes, _own(caption_serializer_sizes)),
    ("serializer times", plot_serializer_times, _own(caption_serializer_times)),
    ("serializer throughput", plot_serializer_throughput, _own(caption_serializer_throughput)),
]


def _heatmap(ax, table: pd.DataFrame, fmt=lambda v: f"{v:.2f}", cmap: str = "RdYlGn", center: float = 1.0):
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


def _ratio_colorbar(fig, image, axes) -> None:
    from matplotlib.ticker import FuncFormatter

    bar = fig.colorbar(image, ax=axes, label="ratio to Java (records/s)")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt(v, 2)))
    bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _hbars(ax, table: pd.DataFrame, colors: dict[str, str]) -> None:
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
    clients = [s for s in dict.fromkeys(rows["series"]) if s != "java"]
    fig = Figure(figsize=(4.6 * len(clients) + 1.5, max(0.42 * len(order) + 1.8, 3.4)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(clients), sharey=True))
    image = None
    for ax, client in zip(axes, clients):
        table = rows[rows["series"] == client].pivot_table(index="row", columns="compression",
                                                          values="ratio_to_java", aggfunc="mean")
        table = table.reindex(order)
        image = _heatmap(ax, table)
        ax.set_title(client)
        ax.set_xlabel("compression")
    axes[0].set_ylabel("record size (bytes), acks, batching")
    if image is not None:
        _ratio_colorbar(fig, image, list(axes))
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
    _hbars(ax, table[series], {**CLIENT_COLORS, "kafka-python (defaults-pure-crc)": "#f2b8a0"})
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
                     f"({best['batching']} batching, {best['compression']}) at {_fmt(best['records_per_s'])} records/s, "
                     f"{_fmt(best['ratio_to_java'])}× Java in the same cell")
    kp = rows[(rows["client"] == "kafka-python") & (rows["record_bytes"] == 100)]
    defaults = kp[kp["variant"] == "defaults"]["records_per_s"]
    tuned = kp[kp["variant"] == "grid"]["records_per_s"]
    if len(defaults) and len(tuned):
        parts.append(f"kafka-python's best 100 B cell is {_fmt(tuned.max() / defaults.iloc[0])}× its defaults "
                     f"({_fmt(tuned.max())} vs {_fmt(defaults.iloc[0])} records/s)")
    top = python.loc[python["records_per_s"].idxmax()] if not python.empty else None
    if top is not None:
        parts.append(f"fastest Python run overall: {top['series']} at {_fmt(top['records_per_s'])} records/s "
                     f"({top['row']}, {top['compression']})")
    return ("; ".join(parts) or "No Python rows") + _load_note(frame) + "."


def _load_note(frame: pd.DataFrame) -> str:
    """The machine's load during the run: numbers on a busy 2-core box are lower bounds."""
    note = _quick_note(frame)
    if "load_avg_1m" in frame.columns and frame["load_avg_1m"].notna().any():
        note += f"; 1-min load average during the run {_fmt(frame['load_avg_1m'].min(), 2)}–{_fmt(frame['load_avg_1m'].max(), 2)}"
        if "machine_cores" in frame.columns:
            note += f" on {frame['machine_cores'].iloc[0]} cores"
    return note


BENCH_PLOTS["producer"] = [
    ("producer ratios", plot_producer_ratios, _own(caption_producer)),
    ("producer throughput", plot_producer_throughput,
     _own(lambda f: "Absolute rates behind the ratios: Java is the first bar of each setting" + _load_note(f) + ".")),
]


# ---- consumer limits ------------------------------------------------------------------------

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
    image = _heatmap(ax, table)
    _ratio_colorbar(fig, image, ax)
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
    _grouped_bars(ax, table[series], colors, log=True)
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
        parts.append(f"{row_name}: {best['series']} {_fmt(best['ratio_to_java'])}× Java")
    return "Best Python way of reading per topic: " + "; ".join(parts) + _load_note(frame) + "."


BENCH_PLOTS["consumer"] = [
    ("consumer ratios", plot_consumer_ratios, _own(caption_consumer)),
    ("consumer throughput", plot_consumer_throughput,
     _own(lambda f: "Absolute read rates behind the ratios, Java first in each group" + _load_note(f) + ".")),
]


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
            f"{_fmt(best['records_per_s'])} records/s")
    if len(single):
        text += f", {_fmt(best['records_per_s'] / single.iloc[0])}× one instance on one partition"
    if {"worker_cores", "broker_cores"} <= set(rows.columns) and np.isfinite(best.get("worker_cores", np.nan)):
        used = best["worker_cores"] + best["broker_cores"]
        cores = f" of {int(best['machine_cores'])}" if np.isfinite(best.get("machine_cores", np.nan)) else ""
        text += (f"; there the processors used {_fmt(best['worker_cores'], 2)} cores and the brokers "
                 f"{_fmt(best['broker_cores'], 2)}, {_fmt(used, 2)}{cores} cores in all")
    more = rows[rows["instances"] > rows["partitions"]]
    if len(more):
        text += "; instances beyond the partition count stay idle (busy_instances in the table)"
    return text + _load_note(frame) + "."


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
    return (f"Processors and brokers together used {_fmt(total.min(), 2)} to {_fmt(total.max(), 2)} cores"
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
        return "Lag per sample; no cell reached zero lag within the samples" + _load_note(frame) + "."
    return (f"Lag reached zero after {_fmt(done.min())} s (cell {done.idxmin()}) to {_fmt(done.max())} s "
            f"(cell {done.idxmax()}); a steeper fall is a faster group.")


BENCH_PLOTS["scaling"] = [
    ("scaling throughput", plot_scaling_throughput, _own(caption_scaling)),
    ("scaling CPU", plot_scaling_cpu, _own(caption_scaling_cpu)),
]
BENCH_PLOTS["scaling_timeline"] = [("scaling timeline", plot_scaling_timeline, _own(caption_scaling_timeline))]


# ---- replication and failure --------------------------------------------------------------------

def _clients_first(table: pd.DataFrame) -> pd.DataFrame:
    """Columns in the order java, confluent-kafka, kafka-python, then anything else."""
    known = [c for c in CLIENT_COLORS if c in table.columns]
    return table[known + [c for c in table.columns if c not in known]]


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
    _grouped_bars(ax_rate, _clients_first(rate), CLIENT_COLORS, fmt=lambda v: f"{v:,.0f}")
    sizes = pd.to_numeric(rows.get("record_bytes", pd.Series(dtype=float)), errors="coerce").dropna().unique()
    ax_rate.set_ylabel("records per second" + (f" ({int(sizes[0]):,} B records)" if len(sizes) == 1 else ""))
    ax_rate.set_xlabel("replication factor, producer acks")
    ax_rate.set_title("throughput")
    ax_rate.legend(fontsize=8)
    lat = rows.pivot_table(index="case", columns="client", values="latency_p99_ms", aggfunc="mean").reindex(order)
    _grouped_bars(ax_lat, _clients_first(lat), CLIENT_COLORS, log=True)
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
            parts.append(f"{client}: RF 3 with acks=all reaches {_fmt(rf3['rf3_vs_rf1'].iloc[0], 2)}× its RF 1 rate "
                         f"({_fmt(rf3['records_per_s'].iloc[0])} records/s, p99 {_fmt(rf3['latency_p99_ms'].iloc[0])} ms)")
    return ("; ".join(parts) or "Throughput per replication factor and acks") + _load_note(frame) + "."


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
        events = [f"{e} at {_fmt(t)} s" for t, e in rows.dropna(subset=["event"])[["t_s", "event"]].itertuples(index=False)]
        text += " (" + ", ".join(events) + ")" if events else ""
    if summary is not None and "kind" in summary.columns:
        failure = summary[summary["kind"] == "failure"]
        if len(failure):
            f = failure.iloc[-1]
            text += (f"; of {int(f['acked']):,} acknowledged records {int(f['lost'])} were lost and "
                     f"{int(f['duplicates'])} duplicated; the longest stall without acknowledgements lasted "
                     f"{_fmt(float(f['longest_stall_s']))} s")
            if "isr_full_after_restart_s" in f and pd.notna(f["isr_full_after_restart_s"]):
                text += f", and all replicas were back in sync {_fmt(float(f['isr_full_after_restart_s']))} s after the restart"
    return text + "."


BENCH_PLOTS["replication"] = [("replication throughput", plot_replication_throughput,
                                 _own(caption_replication_throughput))]
BENCH_PLOTS["replication_timeline"] = [
    ("failure timeline", plot_failure_timeline,
     lambda frame, bench=None: caption_failure(frame, (bench or {}).get("replication"))),
]


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
        parts.append(f"at {_fmt(r['offered_hz'])} Hz offered, trades p50 {_fmt(r['trades_p50_ms'])} ms and p99 "
                     f"{_fmt(r['trades_p99_ms'])} ms")
    summary = frame[frame["kind"] == "max_sustained"] if "kind" in frame.columns else frame.iloc[0:0]
    if len(summary) and "max_sustained_hz" in summary.columns:
        parts.append(f"highest trade rate sustained without growing lag: "
                     f"{_fmt(float(summary['max_sustained_hz'].iloc[-1]))} trades/s")
    elif rows["ok"].any():
        parts.append(f"highest sustained load measured: {_fmt(rows[rows['ok']]['achieved_hz'].max())} trades/s")
    return ("; ".join(parts) or "Latency per load") + _load_note(frame) + "."


BENCH_PLOTS["pipeline"] = [("pipeline latency under load", plot_pipeline_latency, _own(caption_pipeline))]


# ---- the trade generator's rate -------------------------------------------------------------------

def _generator_max(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["mode"] == "max"] if "mode" in frame.columns else frame
    return results.numeric(rows, "records_per_s").dropna(subset=["records_per_s"])


def plot_generator_rate(frame: pd.DataFrame) -> Figure:
    rows = _generator_max(frame)
    table = rows.pivot_table(index="settings", columns="serializer", values="records_per_s", aggfunc="median")
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, table[_format_order(table.columns)], FORMAT_COLORS, fmt=lambda v: f"{v:,.0f}")
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
                     f"{_fmt(best['records_per_s'])} trades/s (acks=all, idempotent, median over repeats shown)")
    paced = results.numeric(frame[frame["mode"] == "paced"], "target_rate_hz", "rate_error_pct") if "mode" in frame.columns else None
    if paced is not None and len(paced):
        worst = paced["rate_error_pct"].abs().max()
        parts.append(f"paced runs ({', '.join(_fmt(t) for t in sorted(paced['target_rate_hz'].dropna().unique()))} Hz) "
                     f"stayed within {_fmt(worst, 2)} % of their target")
    return ("; ".join(parts) or "Rates reached") + _load_note(frame) + "."


BENCH_PLOTS["generator"] = [("generator rate", plot_generator_rate, _own(caption_generator))]


# ---- deep dives -------------------------------------------------------------------------------------

def plot_rebalance_timeline(frame: pd.DataFrame, events: pd.DataFrame | None = None) -> Figure:
    """Per strategy: which consumer read each partition when (gaps = the partition paused)."""
    rows = results.numeric(frame, "t_s", "partition", "records").dropna(subset=["t_s", "partition"])
    rows = rows[rows["records"] > 0]
    strategies = list(dict.fromkeys(rows["strategy"]))
    consumers = sorted(rows["consumer"].astype(str).unique())
    colors = dict(zip(consumers, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]))
    steps = np.diff(np.sort(rows["t_s"].unique()))
    bucket = float(steps[steps > 0].min()) if (steps > 0).any() else 1.0
    fig = Figure(figsize=(11, 2.6 * len(strategies) + 0.8), layout="constrained")
    axes = fig.subplots(len(strategies), 1, sharex=True, squeeze=False)[:, 0]
    for ax, strategy in zip(axes, strategies):
        own = rows[rows["strategy"] == strategy]
        for consumer, part in own.groupby(own["consumer"].astype(str)):
            for partition, spans in part.groupby("partition"):
                ax.broken_barh(list(zip(spans["t_s"], [bucket] * len(spans))), (partition - 0.4, 0.8),
                               color=colors[consumer], label=consumer)
        if events is not None and "strategy" in events.columns:
            changes = events[(events["strategy"] == strategy) & events["event"].isin(["join", "leave"])]
            for t, who, event in results.numeric(changes, "t_s")[["t_s", "consumer", "event"]].itertuples(index=False):
                ax.axvline(t, color="0.3", ls=":", lw=1)
                ax.annotate(f"{who} {event}s", (t, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                            rotation=90, va="top", ha="right")
        ax.set_title(str(strategy), fontsize=10, loc="left")
        ax.set_ylabel("partition")
        ax.set_yticks(sorted(rows["partition"].unique().astype(int)))
        ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    axes[0].legend([Patch(color=colors[c]) for c in consumers], consumers, title="consumer", fontsize=8,
                   loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1].set_xlabel(f"time since the first consumer joined (s; {bucket:g}-s buckets, gaps = no records read)")
    fig.suptitle("Who reads which partition while consumers join and leave the group")
    return fig


def caption_rebalance_timeline(frame: pd.DataFrame, bench: dict | None = None) -> str:
    summary = (bench or {}).get("deepdive_rebalance")
    if summary is None:
        return f"{frame['strategy'].nunique()} assignment strategies shown" + _load_note(frame) + "."
    rows = results.numeric(summary, "max_pause_s", "duplicates")
    parts = []
    for strategy, part in rows.groupby("strategy", sort=False):
        dups = part["duplicates"].max() if "duplicates" in part.columns else float("nan")
        parts.append(f"{strategy}: longest pause {_fmt(part['max_pause_s'].max())} s"
                     + (f", {int(dups)} records read twice" if np.isfinite(dups) else ""))
    return "Per strategy, over all joins and leaves: " + "; ".join(parts) + _load_note(frame) + "."


def plot_rebalance_pauses(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "max_pause_s", "t_s").dropna(subset=["max_pause_s"])
    order = list(dict.fromkeys(rows.sort_values("t_s")["change"])) if "t_s" in rows.columns else None
    table = rows.pivot_table(index="change", columns="strategy", values="max_pause_s", aggfunc="max")
    if order:
        table = table.reindex([o for o in order if o in table.index])
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, table, None)
    ax.set_xlabel("change of the consumer group")
    ax.set_ylabel("longest pause of a partition (s)")
    ax.set_title("How long partitions stop being read when the group changes")
    ax.legend(title="assignment strategy / protocol", fontsize=8)
    return fig


def caption_rebalance_pauses(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "max_pause_s", "moved_partitions", "stalled_partitions").dropna(subset=["max_pause_s"])
    worst = rows.loc[rows["max_pause_s"].idxmax()]
    best = rows.loc[rows["max_pause_s"].idxmin()]
    return (f"Longest pause: {_fmt(worst['max_pause_s'])} s ({worst['strategy']}, {worst['change']}); shortest: "
            f"{_fmt(best['max_pause_s'])} s ({best['strategy']}, {best['change']})" + _load_note(frame) + ".")


def plot_key_spread(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "partition", "share", "records").dropna(subset=["partition", "share"])
    scenarios = list(dict.fromkeys(rows["scenario"]))
    ncols = min(3, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    fig = Figure(figsize=(12, 2.9 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios):
        table = rows[rows["scenario"] == scenario].pivot_table(index="partition", columns="partitioner",
                                                              values="share", aggfunc="sum")
        table.index = table.index.astype(int)
        _grouped_bars(ax, table * 100, None, fmt=lambda v: f"{v:.0f}")
        ax.axhline(100 / len(table), color="0.4", ls=":", lw=1)
        ax.set_title(str(scenario), fontsize=10, loc="left")
        ax.set_xlabel("partition")
        ax.set_ylabel("share of records (%)")
        ax.legend(fontsize=7, title="partitioner", title_fontsize=7)
    for ax in axes.flat[len(scenarios):]:
        ax.set_visible(False)
    fig.suptitle("How records spread over the partitions for different keys (dotted: an even spread)")
    return fig


def caption_key_spread(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "partition", "share").dropna(subset=["share"])
    parts = []
    for (scenario, partitioner), part in rows.groupby(["scenario", "partitioner"], sort=False):
        empty = int((part["share"] == 0).sum())
        parts.append(f"{scenario} ({partitioner}): busiest partition {_fmt(part['share'].max() * 100, 2)} %"
                     + (f", {empty} empty" if empty else ""))
    return "; ".join(parts) + _load_note(frame) + "."


def plot_compaction(frame: pd.DataFrame) -> Figure:
    rows = results.numeric(frame, "records", "distinct_keys", "tombstones")
    table = rows.set_index("phase")[[c for c in ("records", "distinct_keys", "tombstones") if c in rows.columns]]
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, table, {"records": "#4c72b0", "distinct_keys": "#55a868", "tombstones": "#c44e52"},
                  fmt=lambda v: f"{v:,.0f}")
    ax.set_xlabel("phase")
    ax.set_ylabel("count (records in the log)")
    ax.set_title("A compacted topic before and after the log cleaner ran")
    ax.legend(fontsize=8)
    return fig


def caption_compaction(frame: pd.DataFrame) -> str:
    rows = results.numeric(frame, "records", "distinct_keys", "seconds").set_index("phase")
    text = []
    if {"written", "after-cleaning"} <= set(rows.index):
        text.append(f"{_fmt(rows.loc['written', 'records'])} records written for "
                    f"{_fmt(rows.loc['written', 'distinct_keys'])} keys; after cleaning the log held "
                    f"{_fmt(rows.loc['after-cleaning', 'records'])}")
    if "latest_value_ok" in rows.columns and "after-cleaning" in rows.index:
        ok = str(rows.loc["after-cleaning", "latest_value_ok"]).lower() == "true"
        text.append("the latest value of every key survived" if ok else "NOT every key kept its latest value")
    return ("; ".join(text) or "Records per phase") + _load_note(frame) + "."


BENCH_PLOTS["deepdive_rebalance_timeline"] = [
    ("rebalance timeline",
     lambda frame, bench=None: plot_rebalance_timeline(frame, (bench or {}).get("deepdive_rebalance_events")),
     caption_rebalance_timeline),
]
BENCH_PLOTS["deepdive_rebalance"] = [("rebalance pauses", plot_rebalance_pauses, _own(caption_rebalance_pauses))]
BENCH_PLOTS["deepdive_keys"] = [("key spread", plot_key_spread, _own(caption_key_spread))]
BENCH_PLOTS["deepdive_compaction"] = [("compaction", plot_compaction, _own(caption_compaction))]
