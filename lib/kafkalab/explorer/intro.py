"""Helpers for notebooks/00_kafka_intro.ipynb: Kafka's basics with kafka-python.

Each helper does one thing the introduction shows (create a topic, produce, consume in a
group, commit, stop a broker, change a topic setting) and returns a pandas DataFrame, so
the notebook's cells stay one line each and show a table. The lab's components use
confluent-kafka; the introduction uses kafka-python because the course does.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import pandas as pd
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import (CommitFailedError, RebalanceInProgressError, TopicAlreadyExistsError,
                          UnknownTopicOrPartitionError)

from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.transports.kafka.cluster import LocalCluster

WAIT_S = 60.0  # bounds every wait below: a loaded machine can take tens of seconds to move leaders


@contextmanager
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="kafkalab-intro")
    try:
        yield client
    finally:
        client.close()


def wait_until(condition, what: str, timeout_s: float = WAIT_S):
    """Poll `condition` until it returns neither None nor False; LabError naming `what` after the bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.5)


def create_topic(bootstrap: str, name: str, partitions: int = 3, replication_factor: int = 3,
                 **configs: str) -> pd.DataFrame:
    """A fresh, empty topic (an older one of that name is deleted first); its partitions."""
    configs = {key.replace("_", "."): str(value) for key, value in configs.items()}
    with admin(bootstrap) as client:
        if name in client.list_topics():
            client.delete_topics([name])
            wait_until(lambda: name not in client.list_topics(), f"deleting the old topic {name}")
        wait_until(lambda: _create(client, NewTopic(name, partitions, replication_factor, topic_configs=configs)),
                   f"creating topic {name}")
    return wait_until(lambda: _with_leaders(bootstrap, name), f"leaders for every partition of {name}")


def _create(client: KafkaAdminClient, topic: NewTopic) -> bool:
    try:
        client.create_topics([topic])
    except TopicAlreadyExistsError:  # a deletion still in progress: try again shortly
        return False
    return True


def _with_leaders(bootstrap: str, topic: str) -> pd.DataFrame | None:
    table = partitions(bootstrap, topic)
    return table if len(table) and (table["leader"] >= 0).all() else None


def partitions(bootstrap: str, topic: str) -> pd.DataFrame:
    """Every partition of `topic`: leader, replicas, in-sync replicas, and whether some are missing."""
    with admin(bootstrap) as client:
        try:
            described = client.describe_topics([topic])
        except UnknownTopicOrPartitionError:
            return pd.DataFrame(columns=["partition", "leader", "replicas", "isr", "under_replicated"])
    rows = [{"partition": p["partition_index"], "leader": p["leader_id"], "replicas": list(p["replica_nodes"]),
             "isr": sorted(p["isr_nodes"]), "under_replicated": len(p["isr_nodes"]) < len(p["replica_nodes"])}
            for t in described for p in t["partitions"]]
    return pd.DataFrame(rows).sort_values("partition", ignore_index=True)


def produce(bootstrap: str, topic: str, values: Sequence[str], keys: Sequence[str | None] | None = None,
            acks: str | int = "all") -> pd.DataFrame:
    """Send each value (with its key, if given) and wait for the acknowledgement: where it landed."""
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks=acks)
    try:
        keys = list(keys) if keys is not None else [None] * len(values)
        futures = [producer.send(topic, value=value.encode(), key=key.encode() if key is not None else None)
                   for key, value in zip(keys, values)]
        acked = [future.get(timeout=WAIT_S) for future in futures]
    finally:
        producer.close(timeout=WAIT_S)
    return pd.DataFrame({"key": keys, "value": list(values), "partition": [m.partition for m in acked],
                         "offset": [m.offset for m in acked]})


def consume_in_group(bootstrap: str, topic: str, group: str, expected: int, members: int = 2) -> pd.DataFrame:
    """`members` consumers in one group share the topic's partitions; each commits what it read.

    Returns one row per record: which member read it, from which partition and offset. Each
    member polls in its own thread, as separate processes would: a member blocked in a group
    join waits for the others to join too, so they cannot take turns in one thread.
    """
    seen: dict[tuple[int, int], dict] = {}
    state = {"assigned": [False] * members, "committed": [False] * members}
    lock, stop = threading.Lock(), threading.Event()

    def member(number: int) -> None:
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap.split(","), group_id=group,
                                 client_id=f"{group}-member-{number}", auto_offset_reset="earliest",
                                 enable_auto_commit=False)
        try:
            while not stop.is_set():
                batch = consumer.poll(timeout_ms=500)
                with lock:
                    for r in (r for records in batch.values() for r in records):
                        seen.setdefault((r.partition, r.offset), {
                            "member": number, "partition": r.partition, "offset": r.offset,
                            "key": r.key.decode() if r.key else None, "value": r.value.decode()})
                committed = _commit(consumer)
                with lock:
                    state["assigned"][number - 1] = bool(consumer.assignment())
                    state["committed"][number - 1] = committed
        finally:
            consumer.close()

    threads = [threading.Thread(target=member, args=(n,), daemon=True) for n in range(1, members + 1)]
    for thread in threads:
        thread.start()

    def done() -> bool:
        with lock:
            return len(seen) >= expected and all(state["assigned"]) and all(state["committed"])

    try:
        wait_until(done, f"{members} members of group {group} reading {expected} records of {topic}",
                   timeout_s=3 * WAIT_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT_S)
    return pd.DataFrame(list(seen.values())).sort_values(["member", "partition", "offset"], ignore_index=True)


def _commit(consumer: KafkaConsumer) -> bool:
    """Commit what this member has read (synchronously): the group's position is then stored in Kafka.
    While the group rebalances (the second member joining) a commit is refused; the next poll
    finishes the rebalance and the next round commits again."""
    try:
        consumer.commit()
    except (RebalanceInProgressError, CommitFailedError):
        return False
    return True


def group_offsets(bootstrap: str, group: str, topic: str) -> pd.DataFrame:
    """Per partition: the group's committed offset, the end of the log, and the lag between them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps)
        rows = []
        for tp in tps:
            committed = consumer.committed(tp)
            rows.append({"partition": tp.partition, "committed": committed, "end": ends[tp],
                         "lag": ends[tp] - (committed or 0)})
    finally:
        consumer.close()
    return pd.DataFrame(rows)


def stop_broker(config: LabConfig, node_id: int, kill: bool = False) -> None:
    """Stop one node of the lab's local cluster (kill=True: kill -9, no controlled shutdown)."""
    LocalCluster(config.cluster, echo=print).stop_broker(node_id, kill=kill)


def start_broker(config: LabConfig, node_id: int) -> None:
    LocalCluster(config.cluster, echo=print).start_broker(node_id)


def wait_for_isr(bootstrap: str, topic: str, condition, what: str) -> pd.DataFrame:
    """Poll the partitions of `topic` until `condition(table)` holds; the table then."""
    def settled() -> pd.DataFrame | None:
        table = partitions(bootstrap, topic)
        return table if len(table) and condition(table) else None

    return wait_until(settled, what)


def without_broker(node_id: int):
    """Condition for wait_for_isr: no partition is led by `node_id` or has it in sync."""
    return lambda t: ((t["leader"] != node_id) & t["isr"].map(lambda isr: node_id not in isr)).all()


def fully_in_sync(table: pd.DataFrame) -> bool:
    return not table["under_replicated"].any()


def topic_settings(bootstrap: str, topic: str, names: Iterable[str]) -> pd.DataFrame:
    """The topic's current value of each named setting."""
    names = list(names)
    with admin(bootstrap) as client:
        described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    values = _config_values(described, topic)
    return pd.DataFrame({"setting": names, "value": [values.get(n) for n in names]})


def _config_values(described, topic: str) -> dict[str, str]:
    """kafka-python 3 answers {"topic": {name: {config: value or entry}}}; flatten to strings."""
    entries = described.get("topic", {}).get(topic, {}) if isinstance(described, dict) else {}
    return {name: (entry.get("value") if isinstance(entry, dict) else entry) for name, entry in entries.items()}


def change_topic_settings(bootstrap: str, topic: str, **settings: str) -> pd.DataFrame:
    """Set topic settings (e.g. retention_ms="60000"); the new values as the broker reports them."""
    settings = {key.replace("_", "."): str(value) for key, value in settings.items()}
    with admin(bootstrap) as client:
        client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=settings)], incremental=True)

    def applied() -> pd.DataFrame | None:
        table = topic_settings(bootstrap, topic, settings)
        return table if (table["value"] == list(settings.values())).all() else None

    return wait_until(applied, f"the new settings of {topic}")
