"""`kafkalab bench streams`: our Python market processor against the same job in Kafka Streams.

Per engine, one instance drains the same pre-filled `trades` topic (event-time ordered trades, the
scaling benchmark's backlog) on fresh topics: the drain rate is the records consumed from the first
one to the last, divided by that time (JVM start-up and group join are outside the clock for both).
CPU seconds and peak RSS are those of the process that runs the engine: the JVM child for Streams;
for Python the benchmark's own process (the processor runs in-process, so its number includes this
benchmark's 20 ms polling too). Rows: results/bench/streams.csv, with the ratio python/streams.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import ExitStack

import psutil

from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fill_topic, records_per_s, trade_backlog
from kafkalab.bench.scaling import SYMBOLS, TRADES_PER_EVENT_SECOND, _topics_for
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.clients import require_reachable

EXPERIMENT = "streams"
RECORDS, QUICK_RECORDS = 300_000, 60_000
PARTITIONS = 3
DRAIN_TIMEOUT_S = 300.0


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


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)
    records = QUICK_RECORDS if quick else RECORDS
    backlog = trade_backlog(records, "msgpack", SYMBOLS, TRADES_PER_EVENT_SECOND)
    rows = []
    for engine in ("python", "streams"):
        with ExitStack() as stack:  # fresh topics per engine: each drains the same backlog from the start
            topics = _topics_for(config, stack, PARTITIONS)
            fill_topic(config.bootstrap_servers, topics.trades, backlog.values, backlog.keys, headers=backlog.headers)
            with LoadProbe() as probe:  # the machine is shared: how busy it was belongs with each drain
                row = drain(config, engine, topics, records)
            rows.append({**row, **probe.columns()})
    ratio = rows[0]["records_per_s"] / rows[1]["records_per_s"]
    settings = {"partitions": PARTITIONS, "serializer": "msgpack", "symbols": len(SYMBOLS),
                "guarantee": "exactly-once (transactions / exactly_once_v2)", "streams_heap": "-Xmx384m",
                "ratio_python_to_streams": round(ratio, 3), "quick": quick}
    append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [{**row, **settings} for row in rows])
    print(f"bench streams: python {rows[0]['records_per_s']:,.0f} records/s, streams "
          f"{rows[1]['records_per_s']:,.0f} records/s per instance: ratio {ratio:.2f}")
    return len(rows)
