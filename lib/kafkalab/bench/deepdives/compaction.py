"""Deep dive 4: retention and compaction.

A compacted topic (segment.ms 100, min.cleanable.dirty.ratio 0.01) gets many updates of
few keys and some tombstones; we count what the log holds before and after the cleaner
ran and check the latest value per key survived. The broker settings that decide when
retention and cleaning happen are read from the cluster.
"""

from __future__ import annotations

import time

from kafkalab.transports.kafka.clients import base_config
from kafkalab.config import LabConfig
from kafkalab.bench.harness import fresh_topic, wait_for_ready
from kafkalab.bench.deepdives.common import Tables, fresh_group

COMPACTION_CONFIGS = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
                      "min.compaction.lag.ms": "0", "delete.retention.ms": "1000"}
BROKER_SETTINGS = ("log.retention.check.interval.ms", "log.cleaner.backoff.ms", "log.cleaner.enable",
                   "log.segment.bytes", "log.retention.hours", "log.cleaner.min.cleanable.ratio")


def _read_all(bootstrap: str, topic: str) -> list[tuple[str, bytes | None]]:
    """Every (key, value) in the topic's single partition, from the beginning to the end offset."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(base_config(bootstrap, **{"group.id": fresh_group("compaction-read"),
                                                  "enable.auto.commit": False}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, low)])
        records, position, deadline = [], low, time.monotonic() + 60
        while position < high and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                records.append((msg.key().decode(), msg.value()))
                position = msg.offset() + 1
        return records
    finally:
        consumer.close()


def compaction_deepdive(config: LabConfig, keys: int, updates: int, wait_s: float, progress) -> Tables:
    from confluent_kafka import Producer

    bootstrap = config.bootstrap_servers
    names = [f"S{i:02d}" for i in range(keys)]
    deleted = set(names[: max(1, keys // 10)])  # tombstones: "this symbol was delisted"
    latest: dict[str, bytes | None] = {}
    rows = []
    with fresh_topic(bootstrap, "compaction", 1, 3, **COMPACTION_CONFIGS) as topic:
        wait_for_ready(bootstrap, topic)
        progress.set_postfix_str("compaction: writing updates")
        producer = Producer(base_config(bootstrap, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5}))
        written = 0
        for u in range(updates):  # rounds a little apart, so segment.ms rolls many small segments
            for name in names:
                value = f'{{"symbol":"{name}","price":{100 + u * 0.01:.2f},"update":{u}}}'.encode()
                producer.produce(topic, value, name.encode())
                latest[name] = value
                written += 1
            producer.flush(30)
            time.sleep(0.12)
        for name in sorted(deleted):
            producer.produce(topic, None, name.encode())
            latest[name] = None
            written += 1
        producer.flush(30)
        time.sleep(0.2)
        producer.produce(topic, b"roll", b"~marker")  # rolls the last data segment; stays in the active one
        producer.flush(30)
        rows.append({"phase": "written", "records": written, "distinct_keys": keys, "tombstones": len(deleted),
                     "latest_value_ok": True, "seconds": 0.0})
        before = [r for r in _read_all(bootstrap, topic) if r[0] != "~marker"]
        rows.append(_compaction_row("before-cleaning", before, latest, 0.0))
        started = time.monotonic()
        after = before
        while time.monotonic() - started < wait_s:
            progress.set_postfix_str(f"compaction: waiting for the log cleaner ({time.monotonic() - started:.0f} s)")
            time.sleep(2.0)
            after = [r for r in _read_all(bootstrap, topic) if r[0] != "~marker"]
            if len(after) <= keys:  # one record per key left (tombstones may still be there)
                break
        rows.append(_compaction_row("after-cleaning", after, latest, time.monotonic() - started))
        settings = _retention_settings(bootstrap, topic)
    return {"compaction": rows, "retention_settings": settings}


def _compaction_row(phase: str, records, latest: dict[str, bytes | None], seconds: float) -> dict[str, object]:
    last: dict[str, bytes | None] = {}
    for key, value in records:
        last[key] = value
    # Latest value kept for every live key; a deleted key is gone or still a tombstone (None).
    ok = all(last.get(k) == v for k, v in latest.items() if v is not None) and \
        all(last.get(k) is None for k, v in latest.items() if v is None)
    return {"phase": phase, "records": len(records), "distinct_keys": len(last),
            "tombstones": sum(1 for _k, v in records if v is None), "latest_value_ok": ok,
            "seconds": round(seconds, 1)}


def _retention_settings(bootstrap: str, topic: str) -> list[dict[str, object]]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    from kafkalab.transports.kafka.clients import admin

    client = admin(bootstrap)
    broker_id = str(min(b.id for b in client.describe_cluster().result(timeout=30).nodes))
    broker = ConfigResource(ResourceType.BROKER, broker_id)
    topic_res = ConfigResource(ResourceType.TOPIC, topic)
    result = client.describe_configs([broker, topic_res])
    broker_cfg, topic_cfg = result[broker].result(timeout=30), result[topic_res].result(timeout=30)
    rows = [{"scope": "broker", "name": k, "value": broker_cfg[k].value} for k in BROKER_SETTINGS if k in broker_cfg]
    rows += [{"scope": "topic", "name": k, "value": topic_cfg[k].value}
             for k in ("cleanup.policy", "segment.ms", "segment.bytes", "min.cleanable.dirty.ratio",
                       "delete.retention.ms", "retention.ms") if k in topic_cfg]
    return rows
