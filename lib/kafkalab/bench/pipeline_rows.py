"""The rows of results/bench/pipeline.csv: what one load of the pipeline bench measured.

Pure: latency percentiles after the warm-up, consumer-lag slopes, the rule that calls a load
sustained, the CPU columns, the settings columns, and the next rate the bisection tries. The
columns are described in kafkalab.bench.pipeline, which drives the loads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kafkalab.transports.kafka import clients
from kafkalab.config import LabConfig
from kafkalab.core.windowing import DEFAULT_ALLOWED_LATENESS_US, WINDOW_US
from kafkalab.runtime.params import COMPONENTS
from kafkalab.transports.kafka.sink import DEFAULT_MAX_BATCH, SINK_CONSUMER
from kafkalab.transports.kafka.topics import spec as topic_spec

SLOPE_TOLERANCE = 0.05  # lag may grow by at most 5% of the rate per second (sampling noise)...
END_LAG_S = 1.0  # ...and the trades sink ends the load less than 1 s of records behind
SLOPE_FLOOR = 5.0  # records/s: below this a slope is noise
# A freshly started generator process connects and fetches metadata while its first
# records wait: those records measure start-up, not the pipeline. Left out of the latency.
WARMUP_S = 1.0
BROKERS = "brokers"  # the name the Kafka brokers' CPU is sampled under, beside the components'


@dataclass(frozen=True)
class CpuWindow:
    """CPU over the steady part of one load (measured by kafkalab.bench.pipeline_cpu)."""

    seconds: float
    percent: dict[str, float | None]  # % of one core per component name, and BROKERS when sampled
    trades: int  # records the trades topic grew by within the window
    cores: int  # of the machine it ran on


@dataclass
class LoadResult:
    offered_hz: float
    seconds: float
    achieved_hz: float
    trades: pd.DataFrame
    candles: pd.DataFrame
    sink_lag: np.ndarray  # (t, lag) rows while generating
    processor_lag: np.ndarray
    drain_s: float
    cpu: dict
    producer_linger_ms: int = 0
    produced: int = 0  # records the trades topic grew by during the load (Kafka's count)
    cpu_window: CpuWindow | None = None  # None: the load ended before a window could be measured


def production_rate(trades: pd.DataFrame) -> float:
    """Trades per second by the generator's own clock: rows over the span of produced_ts_us."""
    if len(trades) < 2:
        return 0.0
    span_s = (trades.produced_ts_us.max() - trades.produced_ts_us.min()) / 1e6
    return (len(trades) - 1) / span_s if span_s > 0 else 0.0


def _percentiles(values_us: pd.Series, prefix: str) -> dict:
    if values_us.empty:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p95_ms": None, f"{prefix}_p99_ms": None}
    p50, p95, p99 = np.percentile(values_us.to_numpy(dtype=float) / 1000.0, [50, 95, 99])
    return {f"{prefix}_p50_ms": round(p50, 3), f"{prefix}_p95_ms": round(p95, 3), f"{prefix}_p99_ms": round(p99, 3)}


def lag_slope(samples: np.ndarray) -> float:
    """Records/s the lag grows by over the second half of the samples (least squares)."""
    if len(samples) < 4:
        return 0.0
    half = samples[len(samples) // 2:]
    if np.ptp(half[:, 0]) <= 0:
        return 0.0
    return float(np.polyfit(half[:, 0], half[:, 1], 1)[0])


def end_lag(samples: np.ndarray, last_s: float = 2.0) -> float:
    """Mean lag over the last `last_s` seconds of the samples."""
    tail = samples[samples[:, 0] >= samples[-1, 0] - last_s]
    return float(tail[:, 1].mean())


def processor_held_s() -> float:
    """Seconds of records the processor keeps uncommitted by design: its committed offset is the
    oldest record of a window still open, and a window stays open for its length plus the allowed
    lateness."""
    return (WINDOW_US + DEFAULT_ALLOWED_LATENESS_US) / 1e6


def is_sustained(rate: float, sink_slope: float, processor_slope: float, sink_end_lag: float = 0.0,
                 processor_end_lag: float = float("inf")) -> bool:
    """Lag not growing: small slopes (least squares, second half) and a sink less than END_LAG_S behind.

    The exactly-once processor's committed offsets move only when a transaction commits and only
    past closed windows, so its lag is a sawtooth up to `processor_held_s()` of records high, and
    over a few seconds the fitted slope depends on where the load cuts the teeth. Its lag counts
    as growing only if it also ends more than END_LAG_S of records behind that: a processor slower
    than the feed by 5 % is that far behind after a 20 s load.
    """
    limit = max(SLOPE_FLOOR, SLOPE_TOLERANCE * rate)
    behind = max(SLOPE_FLOOR, END_LAG_S * rate)
    sink_keeps_up = sink_slope <= limit and sink_end_lag <= behind
    processor_keeps_up = processor_slope <= limit or processor_end_lag <= behind + processor_held_s() * rate
    return sink_keeps_up and processor_keeps_up

def steady_state(result: LoadResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of a load without its first WARMUP_S seconds (trades by produced time, candles by window end)."""
    trades, candles = result.trades, result.candles
    if trades.empty:
        return trades, candles
    cut = int(trades.produced_ts_us.min()) + int(WARMUP_S * 1_000_000)
    return trades[trades.produced_ts_us >= cut], candles[candles.window_end_us >= cut]


def cpu_column(name: str) -> str:
    """`cpu_pct_<name>`, with underscores (component names are spelled with hyphens)."""
    return "cpu_pct_" + name.replace("-", "_")


CPU_COLUMNS = (*(cpu_column(n) for n in (*COMPONENTS, BROKERS)), "cpu_pct_total", "cpu_window_s", "cpu_us_per_trade",
               "cpu_bound_hz")


def cpu_columns(window: CpuWindow | None) -> dict:
    """Each process's CPU in the window, their total, the CPU per trade and the rate the machine's
    cores would carry at that cost; every column empty (None) where nothing was measured."""
    columns = dict.fromkeys(CPU_COLUMNS)
    if window is None or window.seconds <= 0:
        return columns
    measured = {name: pct for name, pct in window.percent.items() if pct is not None}
    total = sum(measured.values())
    columns.update({cpu_column(name): round(pct, 1) for name, pct in measured.items()},
                   cpu_pct_total=round(total, 1), cpu_window_s=round(window.seconds, 2))
    if window.trades > 0 and total > 0:
        us_per_trade = total / 100 * window.seconds / window.trades * 1e6
        columns.update(cpu_us_per_trade=round(us_per_trade, 1), cpu_bound_hz=round(window.cores * 1e6 / us_per_trade))
    return columns


def row_for(result: LoadResult, settings: dict, fsync: dict) -> dict:
    trades, candles = steady_state(result)
    sink_slope = lag_slope(result.sink_lag)
    processor_slope = lag_slope(result.processor_lag)
    sink_end, processor_end = end_lag(result.sink_lag), end_lag(result.processor_lag)
    return {
        "kind": "load", "offered_hz": result.offered_hz, "seconds": result.seconds, "warmup_s": WARMUP_S,
        "achieved_hz": round(result.achieved_hz, 1), "trades": len(trades),
        # every record the topic received this load must be in trades.csv once: 0 expected
        "trades_not_in_csv": result.produced - len(result.trades),
        **_percentiles(trades.written_ts_us - trades.produced_ts_us, "trades"),
        "trades_max_ms": round(float((trades.written_ts_us - trades.produced_ts_us).max()) / 1000, 3) if len(trades) else None,
        "candles": len(candles),
        **_percentiles(candles.written_ts_us - candles.window_end_us, "candle"),
        "sink_lag_max": int(result.sink_lag[:, 1].max()), "sink_lag_end": round(sink_end, 1),
        "sink_lag_slope_per_s": round(sink_slope, 1),
        "processor_lag_max": int(result.processor_lag[:, 1].max()),
        "processor_lag_end": round(processor_end, 1),
        "processor_lag_slope_per_s": round(processor_slope, 1), "drain_s": result.drain_s,
        "sustained": is_sustained(result.achieved_hz, sink_slope, processor_slope, sink_end, processor_end),
        **result.cpu, **cpu_columns(result.cpu_window), **fsync, **settings,
        "producer_linger_ms": result.producer_linger_ms,
    }


def settings_for(config: LabConfig) -> dict:
    trades = topic_spec("trades")
    return {"serializer": config.serializer, "trade_partitions": trades.partitions,
            "replication_factor": trades.replication_factor, "acks": clients.RELIABLE_PRODUCER["acks"],
            "sink_fetch_wait_max_ms": SINK_CONSUMER["fetch.wait.max.ms"],
            "sink_max_batch": DEFAULT_MAX_BATCH, "processor_allowed_lateness_ms": DEFAULT_ALLOWED_LATENESS_US // 1000}


def next_bisect_rate(rows: list[dict]) -> float | None:
    """A geometric midpoint between the best sustained and the worst unsustained achieved rate."""
    ok = [r["achieved_hz"] for r in rows if r["sustained"]]
    bad = [r["achieved_hz"] for r in rows if not r["sustained"]]
    if not ok or not bad:
        return None
    low, high = max(ok), min(h for h in bad if h > 0) if any(h > 0 for h in bad) else None
    if high is None or high <= low * 1.1:
        return None
    return round(float(np.sqrt(low * high)), -1)

