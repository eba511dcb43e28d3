"""What the cluster explorer shows, as plain tables: brokers, topics, partitions, consumer
groups with lag per partition, and the latest records of a partition decoded from their
headers (kafkalab.core.serde). Each function asks the cluster once and returns a pandas
DataFrame; the widgets (kafkalab.explorer.widgets) only lay them out and refresh them.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkalab.core import serde
from kafkalab.core.models import InvalidMessage
from kafkalab.transports.kafka import clients

TIMEOUT_S = 10.0
PREVIEW_CHARS = 160  # a decoded record is shown on one line, cut to this length


def brokers(bootstrap: str) -> pd.DataFrame:
    """Each broker that answers: its address, whether it is the controller, what it leads and holds."""
    metadata = clients.admin(bootstrap).list_topics(timeout=TIMEOUT_S)
    view = clients.describe_cluster(bootstrap, TIMEOUT_S)
    parts = [p for name, t in metadata.topics.items() if not name.startswith("__") for p in t.partitions.values()]
    rows = [{"broker": b.id, "address": f"{b.host}:{b.port}", "controller": b.id == view.controller_id,
             "leader of": sum(1 for p in parts if p.leader == b.id),
             "replicas": sum(1 for p in parts if b.id in p.replicas),
             "in sync": sum(1 for p in parts if b.id in p.isrs)}
            for b in sorted(metadata.brokers.values(), key=lambda b: b.id)]
    return pd.DataFrame(rows)


def partitions(bootstrap: str, topics: Iterable[str] | None = None) -> pd.DataFrame:
    """Every partition: leader, replicas, ISR, under-replication, and its first and next offset."""
    views = clients.describe_partitions(bootstrap, topics, TIMEOUT_S)
    tps = [TopicPartition(v.topic, v.partition) for v in views]
    first, end = _offsets(bootstrap, tps, OffsetSpec.earliest()), _offsets(bootstrap, tps, OffsetSpec.latest())
    rows = [{"topic": v.topic, "partition": v.partition, "leader": v.leader, "replicas": list(v.replicas),
             "isr": sorted(v.isr), "under_replicated": is_under_replicated(v.replicas, v.isr, v.leader),
             "first offset": first.get((v.topic, v.partition)), "end offset": end.get((v.topic, v.partition))}
            for v in views]
    return pd.DataFrame(rows, columns=["topic", "partition", "leader", "replicas", "isr", "under_replicated",
                                       "first offset", "end offset"])


def is_under_replicated(replicas: Iterable[int], isr: Iterable[int], leader: int) -> bool:
    """A partition with fewer in-sync replicas than replicas, or without a leader (-1)."""
    return leader < 0 or len(set(isr)) < len(set(replicas))


def topics(bootstrap: str, parts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per topic, summed from `partitions` (asked for when not given)."""
    parts = partitions(bootstrap) if parts is None else parts
    if parts.empty:
        return pd.DataFrame(columns=["topic", "partitions", "replication", "under_replicated", "records"])
    grouped = parts.groupby("topic")
    return pd.DataFrame({
        "partitions": grouped.size(),
        "replication": grouped["replicas"].agg(lambda r: max(len(x) for x in r)),
        "under_replicated": grouped["under_replicated"].sum(),
        "records": grouped.apply(lambda g: int((g["end offset"].fillna(0) - g["first offset"].fillna(0)).sum()),
                                 include_groups=False),
    }).reset_index()


def consumer_groups(bootstrap: str) -> pd.DataFrame:
    """Every consumer group's committed offset, the end offset and the lag, per partition."""
    client = clients.admin(bootstrap)
    listing = client.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S + 1)
    committed: dict[tuple[str, str, int], int] = {}
    states = {g.group_id: g.state.name.lower() for g in listing.valid}
    for group in sorted(states):
        future = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                    request_timeout=TIMEOUT_S)[group]
        for tp in future.result(timeout=TIMEOUT_S + 1).topic_partitions:
            committed[(group, tp.topic, tp.partition)] = tp.offset
    tps = sorted({(t, p) for _g, t, p in committed})
    ends = _offsets(bootstrap, [TopicPartition(t, p) for t, p in tps], OffsetSpec.latest())
    frame = pd.DataFrame(lag_rows(committed, ends, states),
                         columns=["group", "state", "topic", "partition", "committed", "end offset", "lag"])
    # Offsets are whole numbers; one unreadable end offset (None) must not turn every other into 13.0.
    return frame.astype({"committed": "Int64", "end offset": "Int64", "lag": "Int64"})


def lag_rows(committed: Mapping[tuple[str, str, int], int], ends: Mapping[tuple[str, int], int],
             states: Mapping[str, str]) -> list[dict]:
    """Lag = end offset - committed offset; a partition without a commit (negative offset) lags by
    everything in it; an end offset that could not be read gives no lag (None), not a guess."""
    rows = []
    for (group, topic, partition), offset in sorted(committed.items()):
        end = ends.get((topic, partition))
        position = offset if offset >= 0 else None
        lag = None if end is None else end - (position or 0)
        rows.append({"group": group, "state": states.get(group, ""), "topic": topic, "partition": partition,
                     "committed": position, "end offset": end, "lag": lag})
    return rows


def _offsets(bootstrap: str, tps: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
    if not tps:
        return {}
    client = clients.admin(bootstrap)  # kept until the futures are done: they die with their handle
    futures = client.list_offsets({tp: spec for tp in tps}, request_timeout=TIMEOUT_S)
    found = {}
    for tp, future in futures.items():
        try:
            found[(tp.topic, tp.partition)] = future.result(timeout=TIMEOUT_S + 1).offset
        except KafkaException:  # e.g. a partition without a leader right now: shown as unknown
            continue
    return found


def latest_records(bootstrap: str, topic: str, partition: int, count: int = 10) -> pd.DataFrame:
    """The last `count` records of one partition, decoded from their headers (or why not)."""
    tp = TopicPartition(topic, partition)
    with clients.consumer(bootstrap, "kafkalab-explorer", enable_partition_eof=True) as consumer:
        low, high = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)
        start = max(low, high - count)
        if start >= high:
            return pd.DataFrame(columns=RECORD_COLUMNS)
        consumer.assign([TopicPartition(topic, partition, start)])
        messages = []
        while len(messages) < high - start:
            batch = consumer.consume(high - start - len(messages), timeout=TIMEOUT_S)
            if not batch:
                break
            messages += [m for m in batch if m.error() is None]
            if any(m.error() is not None for m in batch):  # end of partition reached
                break
    return pd.DataFrame([describe_record(m.partition(), m.offset(), m.key(), m.value(), m.headers())
                         for m in messages], columns=RECORD_COLUMNS)


RECORD_COLUMNS = ["partition", "offset", "key", "format", "type", "record"]


def describe_record(partition: int, offset: int, key: bytes | None, value: bytes | None,
                    headers: list | None) -> dict:
    """One record as the explorer shows it: its format and type from the headers, the decoded
    fields on one line, or the reason it cannot be decoded (as a consumer would dead-letter it)."""
    header_map = {name: bytes(raw).decode("ascii", "replace") for name, raw in headers or () if raw is not None}
    if serde.H_CONTENT_TYPE not in header_map:  # not one of ours (e.g. the introduction's text): as text
        text = (value or b"").decode("utf-8", "replace")
    else:
        try:
            record = serde.decode(value, headers)
            text = ", ".join(f"{k}={v}" for k, v in serde.to_wire(record).items())
        except InvalidMessage as exc:
            text = f"not decodable: {exc}"
    return {"partition": partition, "offset": offset, "key": key.decode("utf-8", "replace") if key else None,
            "format": header_map.get(serde.H_CONTENT_TYPE, ""), "type": header_map.get(serde.H_MESSAGE_TYPE, ""),
            "record": text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "..."}
