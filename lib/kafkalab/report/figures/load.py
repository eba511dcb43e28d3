"""Part 2: the pipeline under increasing load, where its CPU goes, and the trade generator's own rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.bench.pipeline_rows import BROKERS, cpu_column
from kafkalab.report import results
from kafkalab.report.figures.common import FORMAT_COLORS, fmt, format_order, grouped_bars, load_note
from kafkalab.runtime.params import COMPONENTS


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
        parts.append(f"at {fmt(r['offered_hz'])} Hz offered, trades p50 {fmt(r['trades_p50_ms'])} ms and p99 "
                     f"{fmt(r['trades_p99_ms'])} ms")
    summary = frame[frame["kind"] == "max_sustained"] if "kind" in frame.columns else frame.iloc[0:0]
    if len(summary) and "max_sustained_hz" in summary.columns:
        parts.append(f"highest trade rate sustained without growing lag: "
                     f"{fmt(float(summary['max_sustained_hz'].iloc[-1]))} trades/s")
    elif rows["ok"].any():
        parts.append(f"highest sustained load measured: {fmt(rows[rows['ok']]['achieved_hz'].max())} trades/s")
    return ("; ".join(parts) or "Latency per load") + load_note(frame) + "."


# ---- where the CPU goes under load ----------------------------------------------------------------

CPU_PARTS = tuple((cpu_column(name), label, color) for name, label, color in zip(
    (*COMPONENTS, BROKERS), (*(name.replace("-", " ") for name in COMPONENTS), "Kafka brokers"),
    ("#dd8452", "#937860", "#4c72b0", "#55a868", "#8172b2", "#8c8c8c")))
NO_CPU = "no CPU columns in these rows\n(written before the pipeline bench sampled CPU):\nrerun kafkalab bench pipeline"


def _cpu_loads(frame: pd.DataFrame) -> pd.DataFrame:
    """The loads with a measured CPU window (older runs' rows have no CPU columns)."""
    rows = results.numeric(_loads(frame), *(c for c, _, _ in CPU_PARTS), "cpu_pct_total", "cpu_us_per_trade",
                           "cpu_bound_hz", "machine_cores", "producer_linger_ms")
    rows = rows.dropna(subset=["cpu_pct_total"]) if "cpu_pct_total" in rows.columns else rows.iloc[0:0]
    return rows.reset_index(drop=True)  # a row's name is its place in the order of rates


def _cores(rows: pd.DataFrame) -> float:
    """The machine's cores: recorded by append_rows, or implied by the bound the bench computed from them."""
    if "machine_cores" in rows.columns and rows["machine_cores"].notna().any():
        return float(rows["machine_cores"].max())
    implied = (rows["cpu_bound_hz"] * rows["cpu_us_per_trade"] / 1e6).dropna()
    return float(implied.round().max()) if len(implied) else float("nan")


def _load_label(row, repeated: set) -> str:
    label = f"{fmt(row['achieved_hz'])}/s"
    if row["offered_hz"] in repeated and pd.notna(row.get("producer_linger_ms")):
        label += f"\nlinger.ms={int(row['producer_linger_ms'])}"
    return label + ("" if row["ok"] else "\nnot sustained")


def plot_pipeline_cpu(frame: pd.DataFrame) -> Figure:
    rows = _cpu_loads(frame)
    fig = Figure(figsize=(max(7.0, 1.1 * len(rows) + 3), 4.6), layout="constrained")
    ax = fig.subplots()
    ax.set_title("Where the machine's CPU goes at each load (steady window)")
    ax.set_xlabel("trades per second achieved (one bar per load)")
    ax.set_ylabel("CPU (% of one core)")
    if rows.empty:
        ax.text(0.5, 0.5, NO_CPU, ha="center", va="center", transform=ax.transAxes)
        return fig
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for column, label, color in CPU_PARTS:
        if column in rows.columns and rows[column].notna().any():
            values = rows[column].fillna(0.0).to_numpy(dtype=float)
            ax.bar(x, values, 0.6, bottom=bottom, label=label, color=color)
            bottom += values
    for xi, total, us in zip(x, rows["cpu_pct_total"], rows["cpu_us_per_trade"]):
        ax.text(xi, total, f"{fmt(total)} %" + (f"\n{fmt(us)} µs/trade" if np.isfinite(us) else ""),
                ha="center", va="bottom", fontsize=7)
    cores = _cores(rows)
    if np.isfinite(cores):
        ax.axhline(cores * 100, color="#c44e52", ls="--", lw=1, label=f"the machine: {int(cores)} cores")
    repeated = set(rows["offered_hz"][rows["offered_hz"].duplicated()])
    ax.set_xticks(x, [_load_label(r, repeated) for _, r in rows.iterrows()], fontsize=7)
    ax.margins(y=0.18)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def cpu_at_the_top(frame: pd.DataFrame) -> tuple[pd.Series | None, pd.Series | None, float]:
    """The highest sustained load and the highest load with a CPU window, and the machine's cores."""
    rows = _cpu_loads(frame)
    if rows.empty:
        return None, None, float("nan")
    sustained = rows[rows["ok"]]
    return (sustained.iloc[-1] if len(sustained) else None), rows.iloc[-1], _cores(rows)


# Below this share of the machine busy, fixed costs (idle brokers, polling) dominate the CPU per
# trade, and dividing the cores by it implies no ceiling: the quick grid's loads are such loads.
SATURATED_SHARE = 0.8


def implies_ceiling(row: pd.Series, cores: float) -> bool:
    """True when the load kept the machine busy enough for its CPU per trade to bound the rate."""
    return (np.isfinite(cores) and pd.notna(row.get("cpu_bound_hz"))
            and row["cpu_pct_total"] >= SATURATED_SHARE * 100 * cores)


def cpu_clause(row: pd.Series, cores: float) -> str:
    """At one load: the total against the machine, the heaviest process, the cost per trade and its ceiling."""
    share = (f" ({fmt(row['cpu_pct_total'] / cores, 2)} % of the machine's {int(cores)} cores)"
             if np.isfinite(cores) else "")
    parts = {label: row[c] for c, label, _ in CPU_PARTS if c in row.index and pd.notna(row[c])}
    heaviest = max(parts, key=parts.get) if parts else None
    text = f"at {fmt(row['achieved_hz'])} trades/s the processes used {fmt(row['cpu_pct_total'])} % of one core{share}"
    if heaviest is not None:
        text += f", the {heaviest} most ({fmt(parts[heaviest])} %)"
    if implies_ceiling(row, cores):
        text += (f", {fmt(row['cpu_us_per_trade'])} µs of CPU per trade, so the cores would carry about "
                 f"{fmt(row['cpu_bound_hz'])} trades/s")
    elif pd.notna(row.get("cpu_us_per_trade")):
        text += (f", {fmt(row['cpu_us_per_trade'])} µs of CPU per trade, mostly fixed costs at a machine under "
                 f"{SATURATED_SHARE:.0%} busy: no ceiling follows from it")
    return text


def caption_pipeline_cpu(frame: pd.DataFrame) -> str:
    best, top, cores = cpu_at_the_top(frame)
    if top is None:
        return "No CPU per load: " + NO_CPU.replace("\n", " ") + "."
    parts = []
    if best is not None:
        parts.append("Highest sustained load: " + cpu_clause(best, cores))
    if best is None or top.name != best.name:
        parts.append("highest load (not sustained): " + cpu_clause(top, cores)
                     + " (its cost per trade is a lower bound: work left over for after the window is not in it)")
    ceilings = sum(implies_ceiling(row, cores) for row in {r.name: r for r in (best, top) if r is not None}.values())
    assumption = {0: "", 1: ". The ceiling assumes", 2: ". Each ceiling assumes"}[ceilings]
    return ("; ".join(parts) + (f"{assumption} the CPU cost per trade stays the same at higher rates" if ceilings else "")
            + load_note(frame) + ".")


# ---- the trade generator's rate -------------------------------------------------------------------

def _generator_max(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["mode"] == "max"] if "mode" in frame.columns else frame
    return results.numeric(rows, "records_per_s").dropna(subset=["records_per_s"])


def plot_generator_rate(frame: pd.DataFrame) -> Figure:
    rows = _generator_max(frame)
    table = rows.pivot_table(index="settings", columns="serializer", values="records_per_s", aggfunc="median")
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, table[format_order(table.columns)], FORMAT_COLORS, fmt=lambda v: f"{v:,.0f}")
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
                     f"{fmt(best['records_per_s'])} trades/s (acks=all, idempotent, median over repeats shown)")
    paced = results.numeric(frame[frame["mode"] == "paced"], "target_rate_hz", "rate_error_pct") if "mode" in frame.columns else None
    if paced is not None and len(paced):
        worst = paced["rate_error_pct"].abs().max()
        parts.append(f"paced runs ({', '.join(fmt(t) for t in sorted(paced['target_rate_hz'].dropna().unique()))} Hz) "
                     f"stayed within {fmt(worst, 2)} % of their target")
    return ("; ".join(parts) or "Rates reached") + load_note(frame) + "."
