"""Part 3: Kafka, RabbitMQ and ZeroMQ side by side (results/bench/transports.csv).

The table is long: one row per measurement with the columns transport, metric, value,
unit, durability (what an acknowledgement promised), client, client_version, and
`rate_hz` for the latency rows (10 and 1000). Metrics: publish_rate_max, socket_rate_max,
sustained_rate, latency_p50_ms, latency_p99_ms, publisher_cpu_pct, broker_cpu_pct, broker_rss_mib,
lost_under_consumer_kill, duplicates_under_consumer_kill, gaps_counted; and per `component`
(the whole pipeline at one trade rate): component_cpu_pct, component_rss_mib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kafkalab.report import results
from kafkalab.report.figures.common import fmt, grouped_bars, load_note

TRANSPORT_ORDER = ("kafka", "rabbitmq", "zeromq")
TRANSPORT_COLORS = {"kafka": "#4c72b0", "rabbitmq": "#dd8452", "zeromq": "#55a868"}
RATE_METRICS = {"publish_rate_max": "most a publisher sent (msg/s)", "sustained_rate": "sustained end to end (msg/s)"}
RESOURCE_METRICS = {"publisher_cpu_pct": "publisher CPU (% of one core)", "broker_cpu_pct": "broker CPU (% of one core)",
                    "broker_rss_mib": "broker memory (RSS, MiB)"}
BARE_METRICS = ("bare_socket_latency_p50_ms", "bare_socket_latency_p99_ms")  # ZeroMQ's floor, at 10/s
LOSS_METRICS = ("lost_under_consumer_kill", "duplicates_under_consumer_kill", "gaps_counted")


def measurements(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with a numeric value, transports in the order Kafka, RabbitMQ, ZeroMQ."""
    rows = results.numeric(frame, "value", "rate_hz").dropna(subset=["value"]).copy()
    rows["transport"] = rows["transport"].astype(str)
    rank = {t: i for i, t in enumerate(TRANSPORT_ORDER)}
    return rows.sort_values("transport", key=lambda s: s.map(lambda t: rank.get(t, len(rank))), kind="stable")


def _transports(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(rows["transport"]))


def _metric_table(rows: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """index = metric label, columns = transport (median over repeats)."""
    part = rows[rows["metric"].isin(metrics)]
    table = part.pivot_table(index="metric", columns="transport", values="value", aggfunc="median")
    table = table.reindex([m for m in metrics if m in table.index])
    table.index = [metrics[m] for m in table.index]
    return table[[t for t in _transports(rows) if t in table.columns]]


def plot_transport_rates(frame: pd.DataFrame) -> Figure:
    rows = measurements(frame)
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax_rate, ax_res = fig.subplots(1, 2)
    grouped_bars(ax_rate, _metric_table(rows, RATE_METRICS), TRANSPORT_COLORS, log=True, fmt=lambda v: f"{v:,.0f}")
    ax_rate.set_ylabel("messages per second (log scale)")
    ax_rate.set_xlabel("measurement (one Python publisher)")
    ax_rate.set_title("throughput")
    ax_rate.legend(title="transport", fontsize=8)
    resources = _metric_table(rows, RESOURCE_METRICS)
    if resources.empty:
        ax_res.text(0.5, 0.5, "no broker resource rows", ha="center", va="center", transform=ax_res.transAxes)
    else:
        grouped_bars(ax_res, resources, TRANSPORT_COLORS)
    ax_res.set_ylabel("value (unit in the category)")
    ax_res.set_xlabel("resource during the one-publisher maximum-rate run")
    ax_res.set_title("what the publisher and the broker cost (ZeroMQ: no broker)")
    fig.suptitle("Kafka vs RabbitMQ vs ZeroMQ: rates and broker resources, each at its own durability")
    return fig


def _latency_table(rows: pd.DataFrame) -> pd.DataFrame:
    part = rows[rows["metric"].isin(["latency_p50_ms", "latency_p99_ms"])].copy()
    rate = part["rate_hz"].map(lambda v: f" at {v:,.0f}/s" if np.isfinite(v) else "")
    part["case"] = part["metric"].str.replace("latency_", "").str.replace("_ms", "") + rate
    table = part.pivot_table(index="case", columns="transport", values="value", aggfunc="median")
    return table[[t for t in _transports(rows) if t in table.columns]].sort_index(
        key=lambda idx: [(float(c.split(" at ")[-1].rstrip("/s").replace(",", "")) if " at " in c else 0, c)
                         for c in idx])


def plot_transport_latency(frame: pd.DataFrame) -> Figure:
    rows = measurements(frame)
    fig = Figure(figsize=(9, 4.4), layout="constrained")
    ax = fig.subplots()
    grouped_bars(ax, _latency_table(rows), TRANSPORT_COLORS, log=True)
    ax.set_ylabel("latency publish → consumed (ms, log scale)")
    ax.set_xlabel("percentile at an offered rate (messages per second)")
    ax.set_title("End-to-end latency per transport at a low and a high rate")
    ax.legend(title="transport", fontsize=8)
    return fig


def durability_of(rows: pd.DataFrame) -> dict[str, str]:
    if "durability" not in rows.columns:
        return {}
    return {t: str(part["durability"].dropna().iloc[0]) for t, part in rows.groupby("transport", sort=False)
            if part["durability"].notna().any()}


def caption_transport_rates(frame: pd.DataFrame) -> str:
    rows = measurements(frame)
    durability = durability_of(rows)
    parts = []
    for transport, part in rows.groupby("transport", sort=False):
        values = part.groupby("metric")["value"].median()
        bits = [f"{label.split(' (')[0]} {fmt(values[m])} msg/s" for m, label in RATE_METRICS.items() if m in values]
        lost = [f"{m.replace('_', ' ')}: {fmt(values[m])}" for m in LOSS_METRICS if m in values]
        if "socket_rate_max" in values:  # ZeroMQ's ceiling: no simulator, no serde
            bits.append(f"the socket alone with a constant payload {fmt(values['socket_rate_max'])} msg/s")
        text = f"{transport} ({durability.get(transport, 'durability not recorded')}): " + ", ".join(bits + lost)
        parts.append(text)
    return "; ".join(parts) + load_note(frame) + "."


def caption_transport_latency(frame: pd.DataFrame) -> str:
    rows = measurements(frame)
    table = _latency_table(rows)
    parts = [f"{case}: " + ", ".join(f"{t} {fmt(v)} ms" for t, v in row.items() if np.isfinite(v))
             for case, row in table.iterrows()]
    text = "Median over repeats, " + "; ".join(parts) if parts else "No latency rows"
    floor = rows[rows["metric"].isin(BARE_METRICS)]
    bare = floor.groupby("metric")["value"].median()
    if len(bare) == len(BARE_METRICS):
        text += (f". The floor under ZeroMQ's figure, the same socket hop between two processes at "
                 f"{floor['rate_hz'].iloc[0]:,.0f}/s with nothing but a timestamp: p50 {fmt(bare[BARE_METRICS[0]])} ms, "
                 f"p99 {fmt(bare[BARE_METRICS[1]])} ms")
    return text + load_note(frame) + "."


COMPONENT_METRICS = {"component_cpu_pct": "CPU (% of one core)", "component_rss_mib": "peak memory (RSS, MiB)"}


def _component_table(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """index = component, columns = transport (median over repeats)."""
    if "component" not in rows.columns:
        return pd.DataFrame()
    part = rows[(rows["metric"] == metric) & rows["component"].notna()]
    if part.empty:
        return pd.DataFrame()
    table = part.pivot_table(index="component", columns="transport", values="value", aggfunc="median")
    order = list(dict.fromkeys(part["component"]))
    return table.reindex(order)[[t for t in _transports(rows) if t in table.columns]]


def plot_component_usage(frame: pd.DataFrame) -> Figure:
    rows = measurements(frame)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    for ax, (metric, label) in zip(fig.subplots(1, 2), COMPONENT_METRICS.items()):
        table = _component_table(rows, metric)
        ax.set_ylabel(label)
        ax.set_xlabel("component (its own process)")
        if table.empty:
            ax.text(0.5, 0.5, f"no {metric} rows", ha="center", va="center", transform=ax.transAxes)
            continue
        grouped_bars(ax, table, TRANSPORT_COLORS)
        ax.tick_params(axis="x", labelrotation=15, labelsize=8)
        ax.legend(title="transport", fontsize=8)
    fig.suptitle("What each component costs, the same pipeline at the same trade rate over each transport")
    return fig


def caption_component_usage(frame: pd.DataFrame) -> str:
    rows = measurements(frame)
    cpu = _component_table(rows, "component_cpu_pct")
    if cpu.empty:
        return "No per-component rows: run kafkalab bench transports" + load_note(frame) + "."
    broker = rows[rows["metric"] == "broker_cpu_pct"].groupby("transport")["value"].median()
    rate = rows.loc[rows["metric"] == "component_cpu_pct", "rate_hz"].dropna()
    parts = []
    for transport in cpu.columns:
        column = cpu[transport].dropna()
        text = (f"{transport}: its {len(column)} components together {fmt(column.sum())} % of one core, "
                f"the busiest {column.idxmax()} ({fmt(column.max())} %)")
        if transport in broker.index:
            text += f", the broker {fmt(broker[transport])} % (during its own publish test)"
        parts.append(text)
    at = f" at {rate.iloc[0]:,.0f} trades/s" if len(rate) else ""
    return f"Median over repeats{at}: " + "; ".join(parts) + load_note(frame) + "."


def _by_transport(rows: pd.DataFrame, metric: str, rate_hz: float | None = None) -> dict[str, float]:
    part = rows[rows["metric"] == metric]
    if rate_hz is not None:
        part = part[part["rate_hz"] == rate_hz]
    return part.groupby("transport", sort=False)["value"].median().to_dict()


def _listed(values: dict[str, float], unit: str) -> str:
    return ", ".join(f"{t} {fmt(v)}{unit}" for t, v in values.items())


def measured_tradeoffs(frame: pd.DataFrame | None) -> str:
    """One paragraph of our figures behind the advantages and disadvantages ("" without rows)."""
    if frame is None or frame.empty:
        return ""
    rows = measurements(frame)
    bits = []
    if rates := _by_transport(rows, "publish_rate_max"):
        bits.append(f"one publisher reached {_listed(rates, ' msg/s')}")
    if latency := _by_transport(rows, "latency_p50_ms", 10):
        bits.append(f"the median latency at 10 records/s was {_listed(latency, ' ms')}")
    lost, doubled = _by_transport(rows, "lost_under_consumer_kill"), _by_transport(rows, "duplicates_under_consumer_kill")
    gaps = _by_transport(rows, "gaps_counted", 1000)
    if lost:
        bits.append("a consumer killed (-9) mid-run and restarted lost " + ", ".join(
            f"{t} {fmt(v)}" + (f" with {fmt(doubled[t])} rows doubled" if t in doubled else "")
            + (f" ({fmt(gaps[t])} counted as gaps)" if t in gaps else "") for t, v in lost.items()))
    return ("Measured here, each transport at its own durability: " + "; ".join(bits) + load_note(frame) + "."
            if bits else "")


def measured_costs(frame: pd.DataFrame | None) -> str:
    """What a broker and its publisher cost while one publisher sends as fast as it can ("" without rows)."""
    if frame is None or frame.empty:
        return ""
    rows = measurements(frame)
    broker, publisher = _by_transport(rows, "broker_cpu_pct"), _by_transport(rows, "publisher_cpu_pct")
    parts = []
    for transport, own in publisher.items():
        text = f"{transport}: the publisher {fmt(own)} % of one core"
        if broker.get(transport):
            text += f", the broker {fmt(broker[transport])} %"
        if own < 50:  # an asynchronous publisher idles only while its window waits for acknowledgements
            text += " (the publisher waited on the broker's acknowledgements more than half the time)"
        parts.append(text)
    costs = "While one publisher sends at its maximum rate: " + "; ".join(parts) + "." if parts else ""
    text = " ".join(t for t in (costs, _sustained(rows)) if t)
    return text[:-1] + load_note(frame) + "." if text else ""


def _sustained(rows: pd.DataFrame) -> str:
    """The whole pipeline's ceiling per transport, and what stopped the ladder at the next rung."""
    best = _by_transport(rows, "sustained_rate")
    if not best:
        return ""
    part = rows[rows["metric"] == "sustained_rate"]
    stopped = (part.dropna(subset=["stopped_by"]).groupby("transport", sort=False)["stopped_by"].last().to_dict()
               if "stopped_by" in part.columns else {})
    return (f"The whole pipeline, one process per component on this machine, sustained {_listed(best, ' trades/s')}"
            + (" (then " + "; ".join(f"{t} {_stopped(why)}" for t, why in stopped.items()) + ")" if stopped else "")
            + ".")


def _stopped(why: str) -> str:
    return "sustained the top rung of its ladder" if why == "every rung sustained" else why
