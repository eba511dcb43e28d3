"""Producer limits: kafka-python and confluent-kafka against Kafka's Java ProducerPerformance.

Every cell of the grid record size (100 B, 1 KiB, 10 KiB) x acks (1, all) x batching
(off: linger.ms=0, batch.size=16384; on: linger.ms=20, batch.size=1000000) x compression
(none, lz4, zstd) gets a fresh topic (3 partitions, RF 3, min ISR 2). On it, one after the
other in the same run, confluent-kafka, kafka-python and Java's ProducerPerformance (the
reference) send the same random upper-case payload with the same settings, without keys,
as fast as they can. Idempotence is on with acks=all and off with acks=1 for all three
(Java's own rule), and confluent-kafka buffers at most 32 MiB like Java's buffer.memory. Interleaving the clients cell by cell keeps the ratios meaningful while
other work loads the 2 cores.

An extra "defaults" cell at 100 B runs each client with no settings at all, each Python
client right after that once more TUNED (acks=all, batching on, lz4), and kafka-python once
more without its C CRC-32C extension (as `pip install kafka-python` gives it): tuned vs
defaults, measured seconds apart, is what tuning buys.

Bounded in time, not in records, so the grid fits in minutes on 2 cores: each Python client
warms up for WARMUP_SECONDS (not measured: connections, metadata, producer id), then sends
for SECONDS; throughput is acknowledged records over the time from the first measured send
to the end of flush. Java's ProducerPerformance only takes a record count: it gets the
expected rate x SECONDS records (at least JAVA_MIN_RECORDS; the rate guessed by JavaPacer)
plus a fifth of that as `--warmup-records` (JIT, connections), and we parse its "steady
state" line.
Latency is per record from send to acknowledgement (confluent: msg.latency(); kafka-python:
ack time minus the record's create timestamp, 1 ms resolution; Java: the tool's own figures).

Columns of results/bench/producer.csv (plus run_id, run_at and the machine/version columns
of bench.common.append_rows):
    cell            id of the grid cell ("100B-acks_all-batch_on-none", or "100B-defaults")
    client          java | confluent-kafka | kafka-python
    variant         grid | defaults | tuned (in the defaults cell: acks=all, batching on, lz4) |
                    defaults-pure-crc (kafka-python without the crc32c package)
    record_bytes    value size in bytes
    acks            1 | all (for "defaults": the client's default)
    batching        off | on | default
    linger_ms, batch_bytes   the batching settings given ("" = client default)
    compression     none | lz4 | zstd | default
    idempotence     True | False | default
    records         measured records acknowledged (warm-up excluded)
    errors          records that failed (delivery error)
    seconds         first send to end of flush
    records_per_s, mb_per_s   throughput (MiB/s of values, as Kafka's tools count)
    latency_p50_ms, latency_p95_ms, latency_p99_ms   send -> acknowledgement
    ratio_to_java   records_per_s / the Java row's records_per_s of the same cell (java: 1.0)
    note            why a row has no figures (e.g. Java stopped after JAVA_TIMEOUT_S)
    machine_cpu_percent, load_avg_1m   how busy the machine was during the measurement
    quick           True for a --quick run (tiny samples)
"""

from __future__ import annotations

import itertools
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from tqdm import tqdm

from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.config import LabConfig
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import (LoadProbe, fresh_topic, latency_percentiles, mb_per_s, payload, records_per_s,
                      wait_for_ready)
from kafkalab.bench.javatools import JavaToolError, producer_perf

EXPERIMENT = "producer"
SIZES = (100, 1024, 10240)
ACKS = ("1", "all")
COMPRESSIONS = ("none", "lz4", "zstd")
# off: no waiting, Java's classic 16 KiB batches; on: wait up to 20 ms to fill ~1 MB batches.
BATCHING = {"off": (0, 16384), "on": (20, 1_000_000)}
# Records per cell by size: a few seconds of Java at the rates seen on 2 cores.
# Python clients run for SECONDS (or MAX_RECORDS, whichever first), after WARMUP_SECONDS.
SECONDS = 3.0
WARMUP_SECONDS = 0.5
MAX_RECORDS = {100: 3_000_000, 1024: 600_000, 10240: 60_000}
JAVA_MIN_RECORDS = {100: 20_000, 1024: 5_000, 10240: 500}
# Java gets this long (JVM start included) before it is stopped; its row then has no rate.
JAVA_TIMEOUT_S = 45.0
QUICK_RECORDS = 5_000
JAVA_BUFFER_MEMORY_KIB = 32 * 1024  # Java's buffer.memory default, 32 MiB
PYTHON_CLIENTS = ("confluent-kafka", "kafka-python")


@dataclass(frozen=True)
class Cell:
    record_bytes: int
    acks: str = "all"
    batching: str = "on"  # off | on | default
    compression: str = "none"  # none | lz4 | zstd | default

    @property
    def is_defaults(self) -> bool:
        return self.batching == "default"

    @property
    def name(self) -> str:
        if self.is_defaults:
            return f"{self.record_bytes}B-defaults"
        return f"{self.record_bytes}B-acks_{self.acks}-batch_{self.batching}-{self.compression}"

    @property
    def idempotence(self) -> bool:
        return self.acks == "all"

    def settings(self) -> dict[str, object]:
        if self.is_defaults:
            return {"record_bytes": self.record_bytes, "acks": "default", "batching": "default",
                    "linger_ms": "", "batch_bytes": "", "compression": "default", "idempotence": "default"}
        linger, batch = BATCHING[self.batching]
        return {"record_bytes": self.record_bytes, "acks": self.acks, "batching": self.batching,
                "linger_ms": linger, "batch_bytes": batch, "compression": self.compression,
                "idempotence": self.idempotence}

    # The same settings spelled for each client.
    def java_props(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        linger, batch = BATCHING[self.batching]
        return {"acks": self.acks, "linger.ms": linger, "batch.size": batch,
                "compression.type": self.compression, "enable.idempotence": str(self.idempotence).lower()}

    def confluent_config(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        # The same 32 MiB of buffered records as Java's buffer.memory default (librdkafka would
        # queue up to 1 GiB, and its flush would then take minutes in the slow cells).
        return {**self.java_props(), "enable.idempotence": self.idempotence,
                "queue.buffering.max.kbytes": JAVA_BUFFER_MEMORY_KIB}

    def kafka_python_config(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        linger, batch = BATCHING[self.batching]
        return {"acks": -1 if self.acks == "all" else 1, "linger_ms": linger, "batch_size": batch,
                "compression_type": None if self.compression == "none" else self.compression,
                "enable_idempotence": self.idempotence}


@dataclass
class Measurement:
    records: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def columns(self, record_bytes: int) -> dict[str, object]:
        return {"records": self.records, "errors": self.errors, "seconds": round(self.seconds, 3),
                "records_per_s": records_per_s(self.records, self.seconds),
                "mb_per_s": mb_per_s(self.records, record_bytes, self.seconds),
                **latency_percentiles(self.latencies_ms)}


@dataclass(frozen=True)
class Budget:
    """How much each client sends in one cell: bounded in time so the grid fits in minutes."""

    max_records: int
    seconds: float
    warmup_seconds: float
    java_seconds: float
    java_min: int

    def java_records(self, expected_rate: float) -> int:
        return int(min(max(expected_rate * self.java_seconds, self.java_min), self.max_records))


class JavaPacer:
    """Guesses Java's rate in a cell, to size its record count (it takes no time limit).

    The first guess is the fastest Python client's rate in the cell; after that, Java's own
    rate in the previous cell of the same size and batching (Java is up to 10x slower than
    confluent-kafka without batching, and a guess from Python would make it run for minutes).
    """

    def __init__(self) -> None:
        self.last: dict[tuple[int, str], float] = {}

    def expected_rate(self, cell: Cell, fastest_python: float) -> float:
        java = self.last.get((cell.record_bytes, cell.batching))
        return fastest_python if java is None else min(fastest_python, 1.5 * java)

    def note(self, cell: Cell, java_rate: float) -> None:
        self.last[(cell.record_bytes, cell.batching)] = java_rate


def budget_for(record_bytes: int, quick: bool) -> Budget:
    if quick:
        return Budget(QUICK_RECORDS, SECONDS, 0.2, 0.0, QUICK_RECORDS)
    return Budget(MAX_RECORDS[record_bytes], SECONDS, WARMUP_SECONDS, SECONDS, JAVA_MIN_RECORDS[record_bytes])


def grid(quick: bool) -> list[Cell]:
    if quick:
        return [Cell(100, "all", "on", "none"), Cell(100, batching="default", compression="default")]
    cells = [Cell(size, acks, batching, compression)
             for size, acks, batching, compression in itertools.product(SIZES, ACKS, BATCHING, COMPRESSIONS)]
    return cells + [Cell(100, batching="default", compression="default")]


# ---- the clients -----------------------------------------------------------------------------

def produce_confluent(bootstrap: str, topic: str, value: bytes, count: int, max_seconds: float,
                      settings: dict[str, object], warmup_seconds: float = 0.0) -> Measurement:
    from confluent_kafka import Producer

    latencies: list[float] = []
    errors = 0

    def on_delivery(err, msg) -> None:  # one callback for all records: no closure per record
        nonlocal errors
        if err is None:
            latencies.append(msg.latency() * 1000.0)
        else:
            errors += 1

    client = Producer({"bootstrap.servers": bootstrap, "on_delivery": on_delivery, **settings})
    produce, poll = client.produce, client.poll
    # Warm-up (connections, metadata, producer id), not measured: like Java's --warmup-records.
    warm_until = time.perf_counter() + warmup_seconds
    _produce_one(client, topic, value)
    while time.perf_counter() < warm_until:
        for _ in range(100):
            _produce_one(client, topic, value)
        poll(0)
    client.flush(60)
    latencies.clear()
    errors = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    for i in range(count):
        try:
            produce(topic, value)
        except BufferError:  # the local queue is full: serve delivery reports, then retry
            _produce_one(client, topic, value)
        if i % 1000 == 0:
            poll(0)
            if time.perf_counter() > deadline:
                break
    left = client.flush(120)
    seconds = time.perf_counter() - start
    return Measurement(len(latencies), errors + left, seconds, latencies)


def _produce_one(client, topic: str, value: bytes) -> None:
    while True:
        try:
            client.produce(topic, value)
            return
        except BufferError:
            client.poll(0.005)


@contextmanager
def pure_python_crc() -> Iterator[None]:
    """kafka-python as installed without the optional `crc32c` package (its pure-Python CRC)."""
    from kafka.record import util

    original = util.calc_crc32c.__defaults__
    util.calc_crc32c.__defaults__ = (util.crc32c_py,)
    try:
        yield
    finally:
        util.calc_crc32c.__defaults__ = original


def produce_kafka_python(bootstrap: str, topic: str, value: bytes, count: int, max_seconds: float,
                         settings: dict[str, object], warmup_seconds: float = 0.0) -> Measurement:
    from kafka import KafkaProducer

    latencies: list[float] = []
    errors = 0

    def on_done(result) -> None:  # RecordMetadata on success, an exception on failure
        nonlocal errors
        if isinstance(result, Exception):
            errors += 1
        else:
            latencies.append(time.time() * 1000.0 - result.timestamp)

    client = KafkaProducer(bootstrap_servers=bootstrap, **settings)
    try:
        send = client.send
        warm_until = time.perf_counter() + warmup_seconds  # warm-up, not measured (see produce_confluent)
        send(topic, value)
        while time.perf_counter() < warm_until:
            for _ in range(100):
                send(topic, value)
        client.flush(60)
        start = time.perf_counter()
        deadline = start + max_seconds
        sent = 0
        for i in range(count):
            send(topic, value).add_both(on_done)
            sent += 1
            if i % 1000 == 0 and time.perf_counter() > deadline:
                break
        client.flush(120)
        seconds = time.perf_counter() - start
    finally:
        client.close(timeout=30)
    return Measurement(len(latencies), sent - len(latencies), seconds, latencies)  # unacked count as errors


def produce_java(config: LabConfig, topic: str, cell: Cell, count: int, warmup: int,
                 timeout_s: float = 300.0) -> dict[str, object]:
    """ProducerPerformance sends warmup + count records; its steady-state line covers `count`.

    A run that does not finish within `timeout_s` is stopped and recorded without a rate
    (note says why): the tool prints its figures only at the end.
    """
    try:
        result = producer_perf(config.cluster, config.bootstrap_servers, topic, warmup + count, cell.record_bytes,
                               cell.java_props(), warmup_records=warmup, timeout_s=timeout_s)
    except JavaToolError as exc:
        return {"records": 0, "errors": count, "seconds": None, "records_per_s": None, "mb_per_s": None,
                "note": str(exc)[:200]}
    return {"records": result.records, "errors": count - result.records,
            "seconds": round(result.records / result.records_per_s, 3) if result.records_per_s else None,
            "records_per_s": result.records_per_s, "mb_per_s": result.mb_per_s,
            "latency_p50_ms": result.latency_p50_ms, "latency_p95_ms": result.latency_p95_ms,
            "latency_p99_ms": result.latency_p99_ms}


# In the defaults cell each Python client also runs TUNED, right after its defaults, so the
# tuning factor compares two runs made a few seconds apart (the machine's load drifts).
TUNED = Cell(100, "all", "on", "lz4")


def _python_runs(cell: Cell) -> list[tuple[str, str]]:
    if cell.is_defaults:
        return [("confluent-kafka", "defaults"), ("confluent-kafka", "tuned"), ("kafka-python", "defaults"),
                ("kafka-python", "tuned"), ("kafka-python", "defaults-pure-crc")]
    return [("confluent-kafka", "grid"), ("kafka-python", "grid")]


def _settings_for(cell: Cell, variant: str) -> Cell:
    """The settings a run really used: TUNED for the tuned variant, else the cell's."""
    return Cell(cell.record_bytes, TUNED.acks, TUNED.batching, TUNED.compression) if variant == "tuned" else cell


def run_cell(config: LabConfig, cell: Cell, budget: Budget, progress,
             pacer: JavaPacer | None = None) -> list[dict[str, object]]:
    """The Python clients, then Java, on one fresh topic; ratios against that Java row.

    Java's record count is sized (JavaPacer) so that it runs about `budget.java_seconds`
    (its warm-up, a fifth of that, comes on top and is not measured).
    """
    pacer = pacer or JavaPacer()
    value = payload(cell.record_bytes)
    base = {"cell": cell.name, **cell.settings()}
    rows: list[dict[str, object]] = []
    with fresh_topic(config.bootstrap_servers, "producer") as topic:
        wait_for_ready(config.bootstrap_servers, topic)
        for client, variant in _python_runs(cell):
            progress.set_postfix_str(f"{cell.name} {client} {variant}")
            used = _settings_for(cell, variant)
            with LoadProbe() as probe:
                m = _produce_python(config.bootstrap_servers, topic, value, used, client, variant, budget)
            rows.append({**base, **used.settings(), "client": client, "variant": variant,
                         **m.columns(cell.record_bytes), **probe.columns()})
            progress.update(1)
        count = budget.java_records(pacer.expected_rate(cell, max(r["records_per_s"] for r in rows)))
        progress.set_postfix_str(f"{cell.name} java ({count} records)")
        with LoadProbe() as probe:
            java = produce_java(config, topic, cell, count, warmup=max(count // 5, 1), timeout_s=JAVA_TIMEOUT_S)
        rows.insert(0, {**base, "client": "java", "variant": "defaults" if cell.is_defaults else "grid",
                        **java, **probe.columns()})
        progress.update(1)
    java_rate = java["records_per_s"]
    # A timed-out Java run managed at most this rate: the next cell asks for fewer records.
    pacer.note(cell, java_rate or count / JAVA_TIMEOUT_S)
    for row in rows:
        row["ratio_to_java"] = round(row["records_per_s"] / java_rate, 4) if java_rate else None
    return rows


def _produce_python(bootstrap: str, topic: str, value: bytes, cell: Cell, client: str, variant: str,
                    budget: Budget) -> Measurement:
    if client == "confluent-kafka":
        return produce_confluent(bootstrap, topic, value, budget.max_records, budget.seconds,
                                 cell.confluent_config(), budget.warmup_seconds)
    if variant == "defaults-pure-crc":
        with pure_python_crc():
            return produce_kafka_python(bootstrap, topic, value, budget.max_records, budget.seconds,
                                        cell.kafka_python_config(), budget.warmup_seconds)
    return produce_kafka_python(bootstrap, topic, value, budget.max_records, budget.seconds,
                                cell.kafka_python_config(), budget.warmup_seconds)


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    cells = grid(quick)
    total = sum(1 + len(_python_runs(c)) for c in cells)
    written = 0
    pacer = JavaPacer()
    with tqdm(total=total, desc="producer", unit="run") as progress:
        for cell in cells:
            rows = run_cell(config, cell, budget_for(cell.record_bytes, quick), progress, pacer)
            # Written cell by cell: an interrupted grid keeps what it measured.
            written += append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [{**r, "quick": quick} for r in rows])
    return written
