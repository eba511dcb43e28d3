"""`kafkalab bench streams`: our Python market processor against the same job in Kafka Streams.

Per engine, one instance drains the same pre-filled `trades` topic (event-time ordered trades, the
scaling benchmark's backlog) on fresh topics: the drain rate is the records consumed from the first
one to the last, divided by that time (JVM start-up and group join are outside the clock for both).
CPU seconds and peak RSS are those of the process that runs the engine: the JVM child for Streams;
for Python the benchmark's own process (the processor runs in-process, so its number includes this
benchmark's 20 ms polling too).

Then (not in the --quick grid), per engine, the whole pipeline with it as the processor (kafkalab.bench.pipeline's PipelineBench:
its processes, its fresh topics and scratch folder, its warm-up) at LATENCY_RATE_HZ trades/s: candle
latency from the window's end to the candle's produced_ts_us (emitted) and to the sink's written_ts_us,
over the windows a later trade closed (`closed_by_trades`).

Rows: results/bench/streams.csv, one per engine: engine, records, drain_s, records_per_s, cpu_s,
cpu_per_1k_records_ms, peak_rss_mib, candles, machine_cpu_percent, load_avg_1m (during the drain),
latency_rate_hz, latency_s, latency_candles, candle_p50_ms, candle_p99_ms (emitted),
candle_written_p50_ms, candle_written_p99_ms, and the settings with the ratio python/streams.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import ExitStack

import pandas as pd
import psutil
from tqdm import tqdm

from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fill_topic, latency_percentiles, records_per_s, trade_backlog
from kafkalab.bench.pipeline import PipelineBench
from kafkalab.bench.pipeline_rows import LoadResult, steady_state
from kafkalab.bench.scaling import SYMBOLS, TRADES_PER_EVENT_SECOND, topics_for
from kafkalab.config import LabConfig
from kafkalab.core.windowing import DEFAULT_ALLOWED_LATENESS_US, WINDOW_US
from kafkalab.errors import LabError
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.clients import require_reachable

EXPERIMENT = "streams"
RECORDS, QUICK_RECORDS = 300_000, 60_000
PARTITIONS = 3
DRAIN_TIMEOUT_S = 300.0
LATENCY_RATE_HZ = 10
# The whole pipeline twice (each start is a handful of papermill processes, the JVM's too) would more
# than double the quick run that `make run` waits for: the latency is in the full grid only.
LATENCY_SECONDS = 30.0
TAIL_US = WINDOW_US + DEFAULT_ALLOWED_LATENESS_US


def _engine(config: LabConfig, engine: str, topics, group: str):
    if engine == "streams":
        from kafkalab.transports.kafka.streams_processor import StreamsProcessor

        return StreamsProcessor(config, group_id=group, topics=topics, status_ms=50)
    from kafkalab.transports.kafka.processor import MarketProcessor

    return MarketProcessor(config, group_id=group, topics=topics)


def drain(config: LabConfig, engine: str, topics, records: int) -> dict:
    """One instance of `engine` drains `records` trades; its rate, CPU and memory."""
    component = _engine(config, engine, topics, f"bench-streams-{engine}-{uuid.uuid4().hex[:6]}")
    errors: list[BaseException] = []

    def loop():
        try:
            run_loop(component, Bounds(max_seconds=DRAIN_TIMEOUT_S), progress=None)
        except BaseException as exc:  # reported below, with the row
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    process = t0 = first = cpu0 = None
    peak_rss, deadline = 0, time.monotonic() + DRAIN_TIMEOUT_S
    while not errors and time.monotonic() < deadline:
        consumed = component.counters["consumed"]
        if t0 is None and consumed > 0:
            child = getattr(component, "process", None)
            process = psutil.Process(child.pid if child is not None else os.getpid())
            t0, first, cpu0 = time.monotonic(), consumed, sum(process.cpu_times()[:2])
        if process is not None:
            peak_rss = max(peak_rss, process.memory_info().rss)
            if consumed >= records:
                break
        time.sleep(0.02)
    t1 = time.monotonic()
    cpu_s = sum(process.cpu_times()[:2]) - cpu0 if process is not None else 0.0
    component.stop()
    thread.join(60)
    if errors or t0 is None or component.counters["consumed"] < records:
        detail = str(errors[0]) if errors else f"consumed {component.counters['consumed']} of {records}"
        raise LabError(f"bench streams: {engine} did not drain: {detail}")
    measured = records - first
    return {"engine": engine, "records": records, "drain_s": round(t1 - t0, 3),
            "records_per_s": round(records_per_s(measured, t1 - t0), 1),
            "cpu_s": round(cpu_s, 2), "cpu_per_1k_records_ms": round(1e6 * cpu_s / measured, 3),
            "peak_rss_mib": round(peak_rss / 2**20, 1), "candles": component.counters["candles"]}


def latency(config: LabConfig, engine: str, seconds: float) -> dict:
    """The whole pipeline with `engine` as its processor at LATENCY_RATE_HZ trades/s: the pipeline
    bench's load (same warm-up, same rows), candles from their window's end to being emitted and
    to being written by the sink."""
    bench = PipelineBench(config, seconds, processor={"engine": engine})
    failed = True
    try:
        bench.start()
        with tqdm(total=1, desc=f"bench streams: {engine} at {LATENCY_RATE_HZ} Hz", unit="load") as bar:
            result = bench.measure(LATENCY_RATE_HZ, bar)
        failed = False
    except LabError as exc:
        raise LabError(f"bench streams: the pipeline with the {engine} processor failed: {exc}") from exc
    finally:
        bench.close(keep_scratch=failed)
    candles = closed_by_trades(result)
    written = candle_percentiles(candles.written_ts_us - candles.window_end_us)
    emitted = candle_percentiles(candles.produced_ts_us - candles.window_end_us)
    return {"latency_rate_hz": LATENCY_RATE_HZ, "latency_s": seconds, "latency_candles": len(candles),
            "candle_p50_ms": emitted["p50"], "candle_p99_ms": emitted["p99"],
            "candle_written_p50_ms": written["p50"], "candle_written_p99_ms": written["p99"]}


def closed_by_trades(result: LoadResult) -> pd.DataFrame:
    """The load's candles after the warm-up, but for the last windows: those the idle rule closes once
    the trades stop measure the idle timeout, and one engine's drain may end before they are written.
    Kept: windows that ended a window plus the allowed lateness before the last trade's event time."""
    trades, candles = steady_state(result)
    if trades.empty:
        return candles
    return candles[candles.window_end_us <= trades.event_ts_us.max() - TAIL_US]


def candle_percentiles(latency_us) -> dict:
    figures = latency_percentiles(latency_us.to_numpy(dtype=float) / 1000.0)
    return {"p50": figures["latency_p50_ms"], "p99": figures["latency_p99_ms"]}


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)
    records = QUICK_RECORDS if quick else RECORDS
    backlog = trade_backlog(records, "msgpack", SYMBOLS, TRADES_PER_EVENT_SECOND)
    rows = []
    for engine in ("python", "streams"):
        with ExitStack() as stack:  # fresh topics per engine: each drains the same backlog from the start
            topics = topics_for(config, stack, PARTITIONS)
            fill_topic(config.bootstrap_servers, topics.trades, backlog.values, backlog.keys, headers=backlog.headers)
            with LoadProbe() as probe:  # the machine is shared: how busy it was belongs with each drain
                row = drain(config, engine, topics, records)
        rows.append({**row, **probe.columns()})
    for row in [] if quick else rows:  # then each engine in the whole pipeline at a steady low rate
        row.update(latency(config, row["engine"], LATENCY_SECONDS))
    ratio = rows[0]["records_per_s"] / rows[1]["records_per_s"]
    settings = {"partitions": PARTITIONS, "serializer": "msgpack", "symbols": len(SYMBOLS),
                "guarantee": "exactly-once (transactions / exactly_once_v2)", "streams_heap": "-Xmx384m",
                "ratio_python_to_streams": round(ratio, 3), "quick": quick}
    append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [{**row, **settings} for row in rows])
    print(f"bench streams: python {rows[0]['records_per_s']:,.0f} records/s, streams "
          f"{rows[1]['records_per_s']:,.0f} records/s per instance: ratio {ratio:.2f}")
    for row in [] if quick else rows:
        print(f"  {row['engine']} at {LATENCY_RATE_HZ} Hz: {row['latency_candles']} candles, from window end to "
              f"emitted p50 {row['candle_p50_ms']} ms p99 {row['candle_p99_ms']} ms, to written p50 "
              f"{row['candle_written_p50_ms']} ms p99 {row['candle_written_p99_ms']} ms")
    return len(rows)
