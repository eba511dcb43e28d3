"""Kafka's measurements for `kafkalab bench transports`, with the durable settings of the lab:
acks=all, idempotent producer, a topic with replication factor 3 and min.insync.replicas=2.
The same payload as the other transports (a serialized Trade), one publisher, measured here."""

from __future__ import annotations

import importlib.metadata as md
import math
import time
import uuid

from kafkalab.errors import ClusterError
from kafkalab.runtime.processes import usage_while
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.topics import TopicSpec

DURABILITY = "acks=all RF3 min.isr2"


def _row(metric: str, value: float, unit: str, **extra) -> dict:
    return {"transport": "kafka", "metric": metric, "value": round(value, 3), "unit": unit, "durability": DURABILITY,
            "client": "confluent-kafka", "client_version": md.version("confluent-kafka"), **extra}


def _payload() -> tuple[bytes, list]:
    from kafkalab.core.models import Trade, now_us
    from kafkalab.core.serde import encode

    ts = now_us()
    return encode(Trade("AAPL", 1, 190.25, 12.0, "buy", ts, ts), "msgpack")


def bench_topic(bootstrap: str) -> str:
    name = f"bench-transports-{uuid.uuid4().hex[:8]}"
    clients.ensure_topics(bootstrap, [TopicSpec(name, 1, 3, {"min.insync.replicas": "2"})])
    return name


def publish_rate(bootstrap: str, topic: str, count: int) -> float:
    body, headers = _payload()
    with clients.producer(bootstrap, acks="all", **{"enable.idempotence": True}) as producer:
        began = time.perf_counter()
        for _ in range(count):
            while True:
                try:
                    producer.produce(topic, body, key=b"AAPL", headers=headers)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(60)
        return count / (time.perf_counter() - began)


def _ready(producer, consumer, topic: str, body: bytes, headers: list, timeout_s: float = 30.0) -> None:
    """Send unstamped records until one comes back: the consumer's first fetch (its position,
    the topic's leaders) is start-up, and it held the first timed records up to a second."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        producer.produce(topic, body, key=b"AAPL", headers=headers)
        producer.poll(0)
        if consumer.poll(0.1) is not None:
            return
    raise ClusterError(f"no record came back from {topic} within {timeout_s:g} s")


def latency_ms(bootstrap: str, topic: str, rate_hz: float, count: int) -> list[float]:
    """Produce at `rate_hz` and consume in the same process; produce-to-poll times in ms."""
    from kafkalab.core.pacing import Pacer

    body, headers = _payload()
    received: list[float] = []
    with clients.consumer(bootstrap, f"bench-{uuid.uuid4().hex[:6]}", [topic], **{"auto.offset.reset": "latest"}) as c, \
            clients.producer(bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 0}) as producer:
        _ready(producer, c, topic, body, headers)
        pacer, sent = Pacer(rate_hz), 0
        end = time.monotonic() + count / rate_hz + 30
        while len(received) < count and time.monotonic() < end:
            for _ in range(min(pacer.due(), count - sent)):
                producer.produce(topic, body, key=b"AAPL", headers=[*headers, ("sent_ns", str(time.time_ns()).encode())])
                sent += 1
                pacer.sent(1)
            producer.poll(0)
            # poll returns with the first record; consume(n, timeout) would wait out its whole
            # timeout unless n records came, adding that timeout to every low-rate figure
            first = c.poll(min(0.01, pacer.seconds_until_due()) or 0.001)
            for msg in ([first, *c.consume(500, timeout=0)] if first is not None else []):
                sent_ns = dict(msg.headers() or []).get("sent_ns") if msg.error() is None else None
                if sent_ns is not None:  # the start-up records carry no stamp
                    received.append((time.time_ns() - int(sent_ns)) / 1e6)
    return received


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def local_broker_pids(config) -> list[int]:
    """The JVMs of the lab's local cluster when the bootstrap servers are that cluster's, else none."""
    from kafkalab.transports.kafka.cluster import LocalCluster

    if config.bootstrap_servers != config.cluster.bootstrap_servers:
        return []
    return [n.pid for n in LocalCluster(config.cluster).nodes() if n.running]


def measure(config, quick: bool) -> list[dict]:
    bootstrap = config.bootstrap_servers
    clients.require_reachable(bootstrap)
    count = 5_000 if quick else 50_000
    topic = bench_topic(bootstrap)
    try:
        pids = local_broker_pids(config)
        usage = usage_while(pids, lambda: publish_rate(bootstrap, topic, count))
        rows = [_row("publish_rate_max", usage.result, "msg/s", messages=count),
                _row("publisher_cpu_pct", usage.own_cpu_pct, "% of one core", during="publish_rate_max")]
        if pids:  # brokers elsewhere (compose, a remote cluster): not ours to sample
            rows += [_row("broker_cpu_pct", usage.cpu_pct, "% of one core", during="publish_rate_max", nodes=len(pids)),
                     _row("broker_rss_mib", usage.rss_mib, "MiB", during="publish_rate_max", nodes=len(pids))]
        for rate_hz, seconds in ((10, 10 if quick else 30), (1000, 3 if quick else 10)):
            values = latency_ms(bootstrap, topic, rate_hz, int(rate_hz * seconds))
            rows += [_row("latency_p50_ms", percentile(values, 50), "ms", rate_hz=rate_hz, messages=len(values)),
                     _row("latency_p99_ms", percentile(values, 99), "ms", rate_hz=rate_hz, messages=len(values))]
    finally:
        clients.delete_topics(bootstrap, [topic])
    return rows
