"""Generator benchmark: the trade rate one TradeGenerator (one Python producer) reaches.

`kafkalab bench generator [--quick]` runs the real TradeGenerator component (simulation,
serialization, acks=all idempotent producer, delivery callbacks) on a fresh topic (6
partitions like `trades`, RF 3, min ISR 2; deleted afterwards) and appends to
results/bench/generator.csv:

    mode            max (rate "max": as fast as it can go) | paced (a target rate)
    settings        defaults (clients.RELIABLE_PRODUCER: linger.ms 5, lz4) |
                    linger-0 (defaults with linger.ms 0: no wait for a batch to fill) |
                    tuned (linger.ms 50, batch.size 1 MB, a 1M-record local queue) |
                    tuned-errors-only (tuned + delivery.report.only.error: no callback per record)
    serializer      json | msgpack | avro
    target_rate_hz  the rate asked for ("" for max)
    seconds         the run, from the first record to the end of the final flush
    produced, acked, failed   records handed to the producer / acknowledged / failed
    records_per_s   acked / seconds: the rate reached (what the generator reports)
    rate_error_pct  for paced runs: (records_per_s - target) / target * 100
    linger_ms, batch_size, compression, partitions, replication_factor
    repeat, quick
    machine_cpu_percent, load_avg_1m   how busy the shared 2-core machine was
plus run id, time, machine and client versions (bench.common.append_rows).
"""

from __future__ import annotations

from dataclasses import replace

from tqdm import tqdm

from kafkalab.transports.kafka import clients
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.config import LabConfig
from kafkalab.transports.kafka.generator import TradeGenerator
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fresh_topic

EXPERIMENT = "generator"
PARTITIONS = 6
SETTINGS: dict[str, dict] = {
    "defaults": {},
    # the low-latency choice (pipeline benchmark, 10 Hz): what sending at once costs at full speed
    "linger-0": {"linger.ms": 0},
    "tuned": {"linger.ms": 50, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000},
    # + delivery reports for failures only: no Python callback per record (acked is then
    # produced - failed - still queued, exact after the final flush)
    "tuned-errors-only": {"linger.ms": 50, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                          "delivery.report.only.error": True},
}


def _cells(config: LabConfig, quick: bool) -> list[dict]:
    if quick:
        return [dict(mode="max", settings=s, serializer=config.serializer, rate=0, seconds=2.0, repeat=1)
                for s in SETTINGS] + [dict(mode="paced", settings="defaults", serializer=config.serializer,
                                           rate=100, seconds=2.0, repeat=1)]
    cells = [dict(mode="max", settings=s, serializer=f, rate=0, seconds=10.0, repeat=r)
             for r in (1, 2) for f in ("json", "msgpack", "avro") for s in SETTINGS]
    cells += [dict(mode="paced", settings="defaults", serializer=config.serializer, rate=rate, seconds=10.0, repeat=1)
              for rate in (1, 10, 1000, 10000)]
    return cells


def _measure(config: LabConfig, topic: str, cell: dict) -> dict:
    overrides = SETTINGS[cell["settings"]]
    generator = TradeGenerator(replace(config, serializer=cell["serializer"]), topic=topic,
                               rate_hz=cell["rate"] or "max", producer_overrides=overrides)
    with LoadProbe() as probe:
        counters = run_loop(generator, Bounds(max_seconds=cell["seconds"]), progress=None)
    settings = {**clients.RELIABLE_PRODUCER, **overrides}
    rate = generator.reached_rate_hz
    return {
        "mode": cell["mode"], "settings": cell["settings"], "serializer": cell["serializer"],
        "target_rate_hz": cell["rate"] or "", "seconds": round(generator.elapsed_s, 3),
        "produced": counters["produced"], "acked": counters["acked"], "failed": counters["failed"],
        "records_per_s": round(rate, 1),
        "rate_error_pct": round((rate - cell["rate"]) / cell["rate"] * 100, 2) if cell["rate"] else "",
        "linger_ms": settings.get("linger.ms", ""), "batch_size": settings.get("batch.size", ""),
        "compression": settings.get("compression.type", ""), "partitions": PARTITIONS, "replication_factor": 3,
        "repeat": cell["repeat"], **probe.columns(),
    }


def run(config: LabConfig, quick: bool = False) -> int:
    clients.require_reachable(config.bootstrap_servers)
    rows = []
    cells = _cells(config, quick)
    for cell in tqdm(cells, desc="generator", unit="run"):
        with fresh_topic(config.bootstrap_servers, "generator", partitions=PARTITIONS) as topic:
            rows.append({**_measure(config, topic, cell), "quick": quick})
    best = max((r for r in rows if r["mode"] == "max"), key=lambda r: r["records_per_s"])
    print(f"generator: best {best['records_per_s']:,.0f} trades/s ({best['settings']}, {best['serializer']})")
    return append_rows(config.bench_dir / f"{EXPERIMENT}.csv", rows)
