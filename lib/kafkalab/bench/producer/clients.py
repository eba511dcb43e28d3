"""One measured run of each client: confluent-kafka, kafka-python, Java's ProducerPerformance."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from kafkalab.bench.harness import latency_percentiles, mb_per_s, records_per_s
from kafkalab.bench.javatools import JavaToolError, producer_perf
from kafkalab.bench.producer.cells import Cell
from kafkalab.config import LabConfig


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
