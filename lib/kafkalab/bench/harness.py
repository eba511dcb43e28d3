"""Shared pieces of the client benchmarks (producer, consumer, scaling, replication, deep dives).

- `fresh_topic`: every measurement starts on a new, empty topic that is deleted afterwards,
  so no run sees another run's data (the "known state").
- `payload`: random upper-case letters, like Kafka's ProducerPerformance, so compression
  ratios are the same for the Java and the Python clients.
- `latency_percentiles`, `mb_per_s`: the figures every table reports, computed one way.
- `LoadProbe`: CPU use of the whole machine during a cell and the 1-minute load average,
  because other work on the 2 cores changes the numbers and the tables must say so.
- `private_cluster`: a cluster of our own, for experiments that stop brokers.
"""

from __future__ import annotations

import itertools
import os
import random
import string
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import psutil

from kafkalab.transports.kafka.clients import admin, delete_topics, ensure_topics
from kafkalab.transports.kafka.cluster import LocalCluster
from kafkalab.config import LabConfig
from kafkalab.transports.kafka.topics import TopicSpec

MIB = 1024 * 1024
TOPIC_PREFIX = "bench"


def unique_topic_name(prefix: str) -> str:
    return f"{TOPIC_PREFIX}-{prefix}-{uuid.uuid4().hex[:8]}"


def delete_topics_now(bootstrap_servers: str, names: Sequence[str], timeout_s: float = 30.0) -> None:
    """Delete topics and wait for the answer (kept for bench/pipeline.py; same as clients.delete_topics)."""
    delete_topics(bootstrap_servers, names, timeout_s)


@contextmanager
def fresh_topic(bootstrap_servers: str, prefix: str, partitions: int = 3, replication_factor: int = 3,
                **configs: str) -> Iterator[str]:
    """A new topic (min ISR 2 unless given) that is deleted on exit, whatever happens inside."""
    configs = {k.replace("_", "."): str(v) for k, v in configs.items()}
    if replication_factor < 2:
        configs.setdefault("min.insync.replicas", "1")
    spec = TopicSpec(unique_topic_name(prefix), partitions, replication_factor, configs)
    ensure_topics(bootstrap_servers, [spec])
    try:
        yield spec.name
    finally:
        try:
            delete_topics(bootstrap_servers, [spec.name])
        except Exception:  # a failed delete must not hide the measurement's own error
            pass


def payload(size: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(size)).encode()


def latency_percentiles(latencies_ms: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    values = np.asarray(latencies_ms, dtype=float)
    if values.size == 0:
        return {"latency_p50_ms": None, "latency_p95_ms": None, "latency_p99_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"latency_p50_ms": round(float(p50), 3), "latency_p95_ms": round(float(p95), 3),
            "latency_p99_ms": round(float(p99), 3)}


def mb_per_s(records: int, record_bytes: int, seconds: float) -> float:
    """MiB/s of record values (2^20 bytes, as Kafka's perf tools report it)."""
    return round(records * record_bytes / MIB / seconds, 3) if seconds > 0 else 0.0


def records_per_s(records: int, seconds: float) -> float:
    return round(records / seconds, 1) if seconds > 0 else 0.0


class LoadProbe:
    """Machine CPU % over a block (all cores, 100 = both busy) and the load average at its start."""

    def __enter__(self) -> "LoadProbe":
        self.load_1m = round(os.getloadavg()[0], 2)
        psutil.cpu_percent(interval=None)  # starts the measurement window
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu_percent = round(psutil.cpu_percent(interval=None), 1)
        self.seconds = time.monotonic() - self.started

    def columns(self) -> dict[str, float]:
        return {"machine_cpu_percent": self.cpu_percent, "load_avg_1m": self.load_1m}


def wait_for_ready(bootstrap_servers: str, topic: str, timeout_s: float = 30.0) -> None:
    """Every partition of `topic` has a leader (a new topic takes a moment)."""
    client = admin(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meta = client.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is not None and meta.error is None and meta.partitions and all(
                p.leader >= 0 for p in meta.partitions.values()):
            return
        time.sleep(0.2)


@contextmanager
def private_cluster(config: LabConfig, base_port: int, name: str, echo=print) -> Iterator[LocalCluster]:
    """Start a 3-node cluster of our own (own ports, own run folder); stop and wipe it on exit.

    For experiments that kill brokers: they must never touch a cluster someone is using.
    """
    cluster_config = replace(config.cluster, base_port=base_port,
                             run_dir=Path(config.project_root) / ".run" / name)
    cluster = LocalCluster(cluster_config, echo=echo)
    cluster.down()
    cluster.wipe()
    try:
        cluster.up(create_topics=False)
        yield cluster
    finally:
        cluster.down()
        cluster.wipe()


def fill_topic(bootstrap_servers: str, topic: str, values, keys=None, compression: str = "lz4",
               progress=None, headers: list[tuple[str, bytes]] | None = None) -> int:
    """Produce every value (with the matching key, if given, and the same headers) durably.

    Returns the count acknowledged.

    Raises LabError when a record is not acknowledged: a benchmark on a half-filled topic
    would measure the wrong thing.
    """
    from confluent_kafka import Producer

    from kafkalab.errors import LabError

    failed = 0

    def on_delivery(err, _msg) -> None:
        nonlocal failed
        failed += err is not None

    client = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True,
                       "linger.ms": 20, "compression.type": compression, "on_delivery": on_delivery})
    sent = 0
    keys = itertools.repeat(None) if keys is None else keys
    for value, key in zip(values, keys):
        while True:
            try:
                client.produce(topic, value, key, headers=headers)
                break
            except BufferError:
                client.poll(0.01)
        sent += 1
        if sent % 1000 == 0:
            client.poll(0)
            if progress is not None:
                progress.update(1000)
    left = client.flush(120)
    if progress is not None:
        progress.update(sent % 1000)
    if failed or left:
        raise LabError(f"filling topic {topic}: {failed + left} of {sent} records were not acknowledged; "
                       f"is the cluster healthy? (`kafkalab cluster status`)")
    return sent


def broker_pids(bootstrap_servers: str) -> list[int]:
    """Pids of the local processes listening on the bootstrap ports (the broker JVMs).

    Only for reading their CPU time; empty when the brokers are not on this machine.
    """
    ports = set()
    for server in bootstrap_servers.split(","):
        host, _, port = server.rpartition(":")
        if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            ports.add(int(port))
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return []
    return sorted({c.pid for c in conns
                   if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports and c.pid})


@dataclass
class Backlog:
    """Encoded trades ready to produce: values, keys (the symbol) and the shared headers."""

    values: list[bytes]
    keys: list[bytes]
    headers: list[tuple[str, bytes]]  # the same for every trade (format, type, schema version)
    value_bytes: int
    symbols: list[str]


def trade_backlog(count: int, serializer: str, symbols: Sequence[str], per_event_second: int,
                  weights: Sequence[float] | None = None, seed: int = 7) -> Backlog:
    """`count` valid trades in event-time order, ending a minute ago, encoded with the lab's serde.

    Symbols are taken in turn, or drawn with `weights` (seeded) to make some keys hotter.
    """
    from kafkalab.core import serde
    from kafkalab.core.models import Trade, now_us

    rng = random.Random(seed)
    step_us = max(1_000_000 // per_event_second, 1)
    start = now_us() - 60_000_000 - count * step_us
    next_id: dict[str, int] = {}
    backlog = Backlog([], [], [], 0, [])
    for i in range(count):
        symbol = rng.choices(symbols, weights)[0] if weights else symbols[i % len(symbols)]
        next_id[symbol] = next_id.get(symbol, 0) + 1
        ts = start + i * step_us
        trade = Trade(symbol, next_id[symbol], 100.0 + (i % 97) * 0.01, 1.0 + i % 5,
                      "buy" if i % 2 else "sell", ts, ts)
        value, backlog.headers = serde.encode(trade, serializer)
        backlog.values.append(value)
        backlog.keys.append(symbol.encode())
        backlog.symbols.append(symbol)
        backlog.value_bytes += len(value)
    return backlog
