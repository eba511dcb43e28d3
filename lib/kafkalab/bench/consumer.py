"""Consumer limits: kafka-python and confluent-kafka against Kafka's Java ConsumerPerformance.

Each cell (record size 100 B, 1 KiB, 10 KiB x the compression the records were written
with: none, lz4, zstd) fills a fresh topic (3 partitions, RF 3) with the cell's records
(random upper-case payload, no keys), then each client reads all of them from the
beginning with a new consumer group, one after the other in the same run:

    java             Kafka's ConsumerPerformance with its defaults (the reference)
    confluent-kafka  defaults: one `poll()` per record;  batch: `consume(1000)` per call
    kafka-python     defaults: `for msg in consumer`;    tuned: `poll(max_records=5000)` with
                     bigger fetches (fetch_min_bytes 64 KiB, max_partition_fetch_bytes 4 MiB)

Throughput is counted like Java's `fetch.nMsg.sec`: from the moment the group assigned the
partitions to the last record, so the group join is excluded for every client (the join
time is its own column). Python clients stop after MAX_SECONDS if slower (the rate stays
exact). Latency does not apply (the records were written before the clock started).

Columns of results/bench/consumer.csv (plus run_id, run_at, machine and versions):
    cell            "<size>B-<compression>"
    client          java | confluent-kafka | kafka-python
    variant         defaults | batch | tuned
    record_bytes, compression    what the topic holds
    records         records read in the measured interval
    errors          consumer errors reported while reading
    join_ms         subscribe -> partitions assigned (Java: rebalance.time.ms)
    seconds         partitions assigned -> last record
    records_per_s, mb_per_s      throughput (MiB/s of values)
    ratio_to_java   records_per_s / the Java row's of the same cell
    machine_cpu_percent, load_avg_1m
    quick           True for a --quick run (tiny samples)
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass

from tqdm import tqdm

from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.config import LabConfig
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fill_topic, fresh_topic, mb_per_s, payload, records_per_s, wait_for_ready
from kafkalab.bench.javatools import consumer_perf

EXPERIMENT = "consumer"
SIZES = (100, 1024, 10240)
COMPRESSIONS = ("none", "lz4", "zstd")
RECORDS = {100: 600_000, 1024: 120_000, 10240: 15_000}
QUICK_RECORDS = 5_000
MAX_SECONDS = 8.0
JOIN_TIMEOUT_S = 30.0
RUNS = (("java", "defaults"), ("confluent-kafka", "defaults"), ("confluent-kafka", "batch"),
        ("kafka-python", "defaults"), ("kafka-python", "tuned"))


@dataclass(frozen=True)
class Cell:
    record_bytes: int
    compression: str = "none"

    @property
    def name(self) -> str:
        return f"{self.record_bytes}B-{self.compression}"


@dataclass
class Reading:
    records: int
    value_bytes: int
    errors: int
    join_s: float
    seconds: float

    def columns(self) -> dict[str, object]:
        avg_bytes = self.value_bytes / self.records if self.records else 0
        return {"records": self.records, "errors": self.errors, "join_ms": round(self.join_s * 1000, 1),
                "seconds": round(self.seconds, 3), "records_per_s": records_per_s(self.records, self.seconds),
                "mb_per_s": mb_per_s(self.records, avg_bytes, self.seconds)}


def grid(quick: bool) -> list[Cell]:
    if quick:
        return [Cell(100, "none")]
    return [Cell(size, comp) for size, comp in itertools.product(SIZES, COMPRESSIONS)]


def _group() -> str:
    return f"bench-consumer-{uuid.uuid4().hex[:8]}"


# ---- confluent-kafka -------------------------------------------------------------------------

def consume_confluent(bootstrap: str, topic: str, expected: int, batch: bool, max_seconds: float) -> Reading:
    from confluent_kafka import Consumer

    assigned_at: list[float] = []
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": _group(), "auto.offset.reset": "earliest"})
    try:
        subscribed = time.perf_counter()
        client.subscribe([topic], on_assign=lambda c, parts: assigned_at.append(time.perf_counter()))
        records = value_bytes = errors = 0
        deadline = subscribed + JOIN_TIMEOUT_S + max_seconds
        while records < expected and time.perf_counter() < deadline:
            if assigned_at and time.perf_counter() > assigned_at[0] + max_seconds:
                break
            messages = client.consume(1000, 0.5) if batch else [client.poll(0.5)]
            for msg in messages:
                if msg is None:
                    continue
                if msg.error():
                    errors += 1
                    continue
                records += 1
                value_bytes += len(msg.value())
        end = time.perf_counter()
    finally:
        client.close()
    start = assigned_at[0] if assigned_at else end
    return Reading(records, value_bytes, errors, start - subscribed, end - start)


# ---- kafka-python ----------------------------------------------------------------------------

TUNED_KAFKA_PYTHON = {"fetch_min_bytes": 65536, "max_partition_fetch_bytes": 4 * 1024 * 1024,
                      "fetch_max_bytes": 64 * 1024 * 1024}


def consume_kafka_python(bootstrap: str, topic: str, expected: int, tuned: bool, max_seconds: float) -> Reading:
    from kafka import KafkaConsumer
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    assigned_at: list[float] = []

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked) -> None:
            pass

        def on_partitions_assigned(self, assigned) -> None:
            assigned_at.append(time.perf_counter())

    settings = TUNED_KAFKA_PYTHON if tuned else {}
    client = KafkaConsumer(bootstrap_servers=bootstrap, group_id=_group(), auto_offset_reset="earliest",
                           consumer_timeout_ms=int(JOIN_TIMEOUT_S * 1000), **settings)
    try:
        subscribed = time.perf_counter()
        client.subscribe([topic], listener=Listener())
        records = value_bytes = 0
        deadline = subscribed + JOIN_TIMEOUT_S + max_seconds
        if tuned:
            while records < expected and time.perf_counter() < deadline:
                if assigned_at and time.perf_counter() > assigned_at[0] + max_seconds:
                    break
                for batch in client.poll(timeout_ms=500, max_records=5000).values():
                    records += len(batch)
                    value_bytes += sum(len(m.value) for m in batch)
        else:
            for msg in client:  # the iterator stops after consumer_timeout_ms without records
                records += 1
                value_bytes += len(msg.value)
                if records >= expected:
                    break
                if records % 1000 == 0 and time.perf_counter() > assigned_at[0] + max_seconds:
                    break
        end = time.perf_counter()
    finally:
        client.close()
    start = assigned_at[0] if assigned_at else end
    return Reading(records, value_bytes, 0, start - subscribed, end - start)


# ---- one cell --------------------------------------------------------------------------------

def _read(config: LabConfig, topic: str, client: str, variant: str, expected: int) -> dict[str, object]:
    bootstrap = config.bootstrap_servers
    if client == "java":
        r = consumer_perf(config.cluster, bootstrap, topic, expected, _group())
        return {"records": r.records, "errors": 0, "join_ms": r.rebalance_ms,
                "seconds": round(r.fetch_ms / 1000, 3), "records_per_s": r.fetch_records_per_s,
                "mb_per_s": r.fetch_mb_per_s}
    if client == "confluent-kafka":
        return consume_confluent(bootstrap, topic, expected, variant == "batch", MAX_SECONDS).columns()
    return consume_kafka_python(bootstrap, topic, expected, variant == "tuned", MAX_SECONDS).columns()


def run_cell(config: LabConfig, cell: Cell, count: int, progress) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with fresh_topic(config.bootstrap_servers, "consumer") as topic:
        wait_for_ready(config.bootstrap_servers, topic)
        progress.set_postfix_str(f"{cell.name} filling")
        fill_topic(config.bootstrap_servers, topic, itertools.repeat(payload(cell.record_bytes), count),
                   compression=cell.compression)
        java_rate = None
        for client, variant in RUNS:
            progress.set_postfix_str(f"{cell.name} {client} {variant}")
            with LoadProbe() as probe:
                cols = _read(config, topic, client, variant, count)
            if client == "java":
                java_rate = cols["records_per_s"]
            ratio = round(cols["records_per_s"] / java_rate, 4) if java_rate else None
            rows.append({"cell": cell.name, "client": client, "variant": variant,
                         "record_bytes": cell.record_bytes, "compression": cell.compression, **cols,
                         "ratio_to_java": ratio, **probe.columns()})
            progress.update(1)
    return rows


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    cells = grid(quick)
    written = 0
    with tqdm(total=len(cells) * len(RUNS), desc="consumer", unit="run") as progress:
        for cell in cells:
            count = QUICK_RECORDS if quick else RECORDS[cell.record_bytes]
            rows = [{**r, "quick": quick} for r in run_cell(config, cell, count, progress)]
            written += append_rows(config.bench_dir / f"{EXPERIMENT}.csv", rows)
    return written
