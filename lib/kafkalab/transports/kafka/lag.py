"""Consumer lag from Kafka's own bookkeeping, and whether a group owns its input yet.

The runner drains a consumer until its lag is 0, and starts the generators once every
consumer group owns all its input partitions (so no record waits for a kernel to start).
"""

from __future__ import annotations

import time
from typing import Iterable

from confluent_kafka import Consumer, ConsumerGroupState, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkalab.transports.kafka import clients


class LagProbe:
    """Consumer-group lag from Kafka's own bookkeeping: committed offsets vs end offsets.

    End offsets are read with isolation READ_COMMITTED (the last stable offset): what a
    read_committed consumer can reach, so transaction markers do not count as lag.

    Committed offsets are read by a consumer of the group that never joins it (OffsetFetch),
    not by the admin API: in librdkafka 2.16 an admin group request that times out (no
    coordinator yet on a fresh cluster, or one moving after a broker restart) later aborts
    the whole process with an `eonce->refcnt > 0` assertion, while the consumer's own
    coordinator lookup simply retries.
    """

    def __init__(self, bootstrap_servers: str, timeout_s: float = 10.0):
        self.bootstrap_servers = bootstrap_servers
        self.client = clients.admin(bootstrap_servers)
        self.timeout_s = timeout_s
        self._readers: dict[str, Consumer] = {}

    def close(self) -> None:
        """Close the readers and destroy the admin handle here, on the caller's thread (left to the
        garbage collector, a handle may be destroyed on a librdkafka thread: see clients.admin)."""
        for reader in self._readers.values():
            try:
                reader.close()
            except (KafkaException, RuntimeError):
                pass  # closed already, or its cluster gone: it is destroyed either way
        self._readers.clear()
        self.client.__exit__(None, None, None)

    def __enter__(self) -> "LagProbe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _reader(self, group_id: str) -> Consumer:
        if group_id not in self._readers:
            # read_uncommitted: a pending transaction's offsets are not waited for (they
            # are not committed yet either way).
            self._readers[group_id] = Consumer(clients.base_config(
                self.bootstrap_servers, **{"group.id": group_id, "enable.auto.commit": False,
                                           "isolation.level": "read_uncommitted"}))
        return self._readers[group_id]

    def partitions(self, topic_names: Iterable[str]) -> list[TopicPartition]:
        metadata = self.client.list_topics(timeout=self.timeout_s).topics
        return [TopicPartition(name, p) for name in topic_names if name in metadata for p in metadata[name].partitions]

    def _offsets(self, partitions: list[TopicPartition], spec) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}

        def ask() -> dict[tuple[str, int], int]:
            futures = self.client.list_offsets({tp: spec for tp in partitions}, request_timeout=self.timeout_s,
                                               isolation_level=IsolationLevel.READ_COMMITTED)
            return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

        return _retrying(ask)

    def end_offsets(self, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        return self._offsets(self.partitions(topic_names), OffsetSpec.latest())

    def committed(self, group_id: str, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        """The group's committed offsets in `topic_names` (partitions never committed left out)."""
        partitions = self.partitions(topic_names)
        if not partitions:
            return {}
        found = _retrying(lambda: self._reader(group_id).committed(partitions, timeout=self.timeout_s))
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def lag(self, group_id: str, topic_names: Iterable[str]) -> int:
        """Records in `topic_names` that `group_id` has not committed yet (a fresh group: all of them)."""
        topic_names = list(topic_names)
        ends = self.end_offsets(topic_names)
        committed = self.committed(group_id, topic_names)
        missing = [TopicPartition(t, p) for (t, p) in ends if (t, p) not in committed]
        starts = self._offsets(missing, OffsetSpec.earliest())
        return sum(max(0, end - committed.get(key, starts.get(key, 0))) for key, end in ends.items())


def group_ready(probe: "LagProbe", group_id: str, topic_names: Iterable[str]) -> bool:
    """The group is stable and its members own every partition of `topic_names`."""
    topic_names = list(topic_names)
    wanted = {(tp.topic, tp.partition) for tp in probe.partitions(topic_names)}
    try:
        probe.committed(group_id, topic_names)  # the group's coordinator is up (see LagProbe)
        description = probe.client.describe_consumer_groups([group_id], request_timeout=probe.timeout_s)[group_id].result()
    except KafkaException:
        return False
    if description.state != ConsumerGroupState.STABLE:
        return False
    owned = {(tp.topic, tp.partition) for m in description.members
             for tp in (m.assignment.topic_partitions if m.assignment else [])}
    return bool(wanted) and wanted <= owned


def _retrying(ask, attempts: int = 20, pause_s: float = 0.25):
    """Leadership moves (a new topic, a broker restart) make offset requests fail for a moment."""
    for attempt in range(attempts):
        try:
            return ask()
        except KafkaException as exc:
            err = exc.args[0]
            transient = err.retriable() or err.code() in (KafkaError.NOT_LEADER_FOR_PARTITION,
                                                           KafkaError.LEADER_NOT_AVAILABLE,
                                                           KafkaError.UNKNOWN_TOPIC_OR_PART,
                                                           KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                                           KafkaError.NOT_COORDINATOR)
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(pause_s)


def group_lag(bootstrap_servers: str, group_id: str, topic_names: Iterable[str]) -> int:
    with LagProbe(bootstrap_servers) as probe:
        return probe.lag(group_id, topic_names)
