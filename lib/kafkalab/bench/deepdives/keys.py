"""Deep dive 2: partitions and keys.

Which partition each application symbol lands in with librdkafka's default partitioner
(consistent_random = CRC32 of the key) and with murmur2 (Java's and kafka-python's
default) - computed and checked against the broker's placement - and how records spread
over 6 partitions for five key choices: the application's symbols, 48 symbols, a hot key,
no key, a unique trade id.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

from kafkalab.transports.kafka.clients import base_config
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.bench.harness import fresh_topic, trade_backlog, wait_for_ready
from kafkalab.bench.deepdives.common import Tables


PARTITIONERS = ("consistent_random", "murmur2_random")  # librdkafka's default; Java's / kafka-python's


def computed_partition(key: bytes, partitions: int, partitioner: str) -> int:
    """Where a key goes, computed the way each client computes it."""
    if partitioner == "murmur2_random":
        from kafka.partitioner.default import murmur2

        return (murmur2(key) & 0x7FFFFFFF) % partitions
    return zlib.crc32(key) % partitions  # librdkafka consistent(_random): CRC32


def _produce_and_place(bootstrap: str, topic: str, partitioner: str, records) -> list[int]:
    """Produce (key, value) pairs; returns the partition the broker acknowledged for each."""
    from confluent_kafka import Producer

    placed: list[int] = [-1] * len(records)
    failed = 0

    def on_delivery(err, msg) -> None:
        nonlocal failed
        if err is not None:
            failed += 1
        else:
            placed[int(msg.value())] = msg.partition()

    producer = Producer(base_config(bootstrap, **{"partitioner": partitioner, "linger.ms": 5,
                                                  "on_delivery": on_delivery}))
    for i, (key, _symbol) in enumerate(records):
        while True:
            try:
                producer.produce(topic, str(i).encode(), key)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(60)
    if failed or left:
        raise LabError(f"keys deep dive: {failed + left} records were not acknowledged")
    return placed


def key_scenarios(count: int) -> dict[str, list[tuple[bytes | None, str]]]:
    """(Kafka key, the trade's symbol) per record, for five ways to choose the key."""
    from kafkalab.core.market import DEFAULT_SYMBOLS, SYMBOLS

    app = list(DEFAULT_SYMBOLS)
    activity = [SYMBOLS[s].activity for s in app]
    hot = [sum(activity[1:])] + activity[1:]  # the first symbol makes half of the flow
    many = [f"S{i:02d}" for i in range(48)]
    weighted = trade_backlog(count, "json", app, 1000, activity).symbols
    hot_symbols = trade_backlog(count, "json", app, 1000, hot).symbols
    return {
        "symbol (application's symbols)": [(s.encode(), s) for s in weighted],
        "symbol (48 symbols)": [(many[i % 48].encode(), many[i % 48]) for i in range(count)],
        "symbol with a hot key": [(s.encode(), s) for s in hot_symbols],
        "no key": [(None, s) for s in weighted],
        "trade id": [(f"{s}-{i}".encode(), s) for i, s in enumerate(weighted)],
    }


def keys_deepdive(config: LabConfig, count: int, progress) -> Tables:
    from kafkalab.core.market import DEFAULT_SYMBOLS

    bootstrap = config.bootstrap_servers
    key_map, spread = [], []
    for partitions in (3, 6):
        with fresh_topic(bootstrap, "keys", partitions, 3) as topic:
            wait_for_ready(bootstrap, topic)
            for partitioner in PARTITIONERS:
                progress.set_postfix_str(f"keys: {partitions} partitions, {partitioner}")
                records = [(s.encode(), s) for s in DEFAULT_SYMBOLS]
                placed = _produce_and_place(bootstrap, topic, partitioner, records)
                for (key, symbol), observed in zip(records, placed):
                    computed = computed_partition(key, partitions, partitioner)
                    key_map.append({"key": symbol, "partitions": partitions, "partitioner": partitioner,
                                    "partition_computed": computed, "partition_observed": observed,
                                    "matches": computed == observed})
                if partitions == 6:
                    for scenario, records in key_scenarios(count).items():
                        spread += _spread_rows(scenario, partitioner, partitions, records,
                                               _produce_and_place(bootstrap, topic, partitioner, records))
    return {"key_map": key_map, "keys": spread}


def _spread_rows(scenario: str, partitioner: str, partitions: int, records, placed: list[int]) -> list[dict]:
    symbols_in: dict[int, set[str]] = defaultdict(set)
    counts: dict[int, int] = defaultdict(int)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for (_key, symbol), partition in zip(records, placed):
        counts[partition] += 1
        symbols_in[partition].add(symbol)
        partitions_of[symbol].add(partition)
    widest = max(len(p) for p in partitions_of.values())
    return [{"scenario": scenario, "partitioner": partitioner, "partition": p, "records": counts[p],
             "share": round(counts[p] / len(records), 4), "distinct_symbols": len(symbols_in[p]),
             "symbols": " ".join(sorted(symbols_in[p])[:8]), "max_partitions_per_symbol": widest}
            for p in range(partitions)]
