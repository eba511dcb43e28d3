"""Kafka client helpers (confluent-kafka / librdkafka).

Producers and consumers are context managers: whatever happens inside the `with`,
a producer is flushed and a consumer is closed (which commits nothing by itself; the
caller commits explicitly after its work is safe).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkalab.errors import LabError
from kafkalab.transports.kafka.topics import TOPICS, TopicSpec

_LOG = logging.getLogger(__name__)

# librdkafka prints connection failures to stderr by default; log_level 0 drops them at
# the source, so a notebook or CLI shows one clear error of ours instead of a wall of
# retries. (Not a Python `logger`: that callback runs on librdkafka's own threads, and
# a short-lived AdminClient freed while it logs is a crash risk.) Errors still arrive
# through error_cb, delivery reports, futures and message errors.
LIBRDKAFKA_QUIET = {"log_level": 0}

FLUSH_TIMEOUT_S = 30.0

# Durable by default: every acknowledged record is on at least min.insync.replicas
# brokers, and retries cannot duplicate or reorder (idempotence).
RELIABLE_PRODUCER = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
}


# Consumers commit explicitly, only after their work is safe (a CSV row on disk, a
# result acknowledged by Kafka); a new group starts from the oldest retained record.
CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "isolation.level": "read_committed",
}


class KafkaUnavailable(LabError):
    """The bootstrap servers did not answer in time."""


# confluent-kafka's own (Python callback) settings are spelled with underscores.
_PYTHON_KEYS = frozenset({"error_cb", "throttle_cb", "stats_cb", "oauth_cb", "on_delivery", "on_commit", "logger"})


def base_config(bootstrap_servers: str, **overrides) -> dict:
    """Client settings; overrides may be spelled `linger_ms=5` or `**{"linger.ms": 5}`."""
    settings = {key if key in _PYTHON_KEYS else key.replace("_", "."): value for key, value in overrides.items()}
    return {"bootstrap.servers": bootstrap_servers, **LIBRDKAFKA_QUIET, **settings}


def admin(bootstrap_servers: str, **overrides) -> AdminClient:
    """A new admin handle; use it as a context manager (`with admin(...) as client:`).

    A handle per call. Keeping one per settings was tried: the processor's recovery from
    fencing then failed with a SystemError from inside confluent-kafka (cause not found), so it
    was reverted. The `with` destroys the handle on the caller's thread once its futures are
    done: a handle left to the garbage collector is destroyed by whichever thread collects it,
    possibly librdkafka's own background thread running an admin future's Python callback,
    where rd_kafka_destroy aborts or crashes the process.
    """
    return AdminClient(base_config(bootstrap_servers, **overrides))


@dataclass(frozen=True)
class ClusterView:
    cluster_id: str
    broker_ids: tuple[int, ...]
    controller_id: int | None


def describe_cluster(bootstrap_servers: str, timeout_s: float = 5.0) -> ClusterView:
    """What the cluster says about itself; raises KafkaUnavailable if nobody answers."""
    # A fresh handle (admin() makes one per call): a kept one waits on the controller it
    # last saw, which may be the broker that was just killed.
    try:
        with admin(bootstrap_servers, **{"socket.connection.setup.timeout.ms": int(timeout_s * 1000)}) as client:
            result = client.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s + 1)
    except Exception as exc:  # KafkaException or a future timeout: same meaning here
        raise _unreachable(bootstrap_servers, timeout_s, exc) from None
    controller = result.controller.id if result.controller is not None else None
    return ClusterView(result.cluster_id, tuple(sorted(n.id for n in result.nodes)), controller)


def _unreachable(bootstrap_servers: str, timeout_s: float, exc: BaseException) -> KafkaUnavailable:
    """The one line every caller gives when no broker answers."""
    return KafkaUnavailable(f"cannot reach Kafka at {bootstrap_servers} within {timeout_s:g} s ({_reason(exc)}); "
                            f"is the cluster up? try `kafkalab cluster up` or check KAFKA_BOOTSTRAP_SERVERS")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        return err.str() if isinstance(err, KafkaError) else str(err)
    return type(exc).__name__ if not str(exc) else str(exc)


def require_reachable(bootstrap_servers: str, timeout_s: float = 10.0) -> ClusterView:
    return describe_cluster(bootstrap_servers, timeout_s)


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec] = TOPICS, timeout_s: float = 30.0) -> list[str]:
    """Create the declared topics that do not exist yet; returns the names created."""
    with admin(bootstrap_servers) as client:
        return _create_missing(client, list(specs), timeout_s)


def _create_missing(client: AdminClient, specs: list[TopicSpec], timeout_s: float) -> list[str]:
    existing = set(client.list_topics(timeout=timeout_s).topics)
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    created: list[str] = []
    deadline = time.monotonic() + timeout_s
    todo = missing
    while todo:
        futures = client.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, config=s.all_configs()) for s in todo],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        retry, by_name = [], {spec.name: spec for spec in todo}
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                code = exc.args[0].code()
                # Right after start-up a broker can be registered but still fenced: RF 3 is
                # refused for a moment ("only 2 broker(s) are registered"). Try again shortly.
                if code == KafkaError.INVALID_REPLICATION_FACTOR and time.monotonic() < deadline:
                    retry.append(by_name[name])
                elif code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise LabError(f"could not create topic {name!r}: {_reason(exc)}") from None
        todo = retry
        if todo:
            time.sleep(1.0)
    _wait_for_leaders(client, [s.name for s in missing], timeout_s)
    return created


def _wait_for_leaders(client: AdminClient, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topics = client.list_topics(timeout=timeout_s).topics
        if all(n in topics and topics[n].partitions and
               all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.2)
    raise LabError(f"topics {names} have no partition leaders after {timeout_s:g} s")


def delete_topics(bootstrap_servers: str, names: Iterable[str], timeout_s: float = 30.0) -> None:
    with admin(bootstrap_servers) as client:  # open until the futures are done: they fail with their client
        futures = client.delete_topics(list(names), operation_timeout=timeout_s)
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise


TOPIC_LOOKUPS = 6  # about 3 s in all before "does not exist"


def require_topics(bootstrap_servers: str, names: Iterable[str], timeout_s: float = 10.0) -> None:
    """Fail fast, with the fix, when a topic a component needs does not exist."""
    names = set(names)
    with admin(bootstrap_servers) as client:
        # A topic created a moment ago may not be in every broker's metadata yet: look again briefly.
        for attempt in range(TOPIC_LOOKUPS):
            try:
                existing = set(client.list_topics(timeout=timeout_s).topics)
            except KafkaException as exc:  # nobody answered: the same one line as describe_cluster
                raise _unreachable(bootstrap_servers, timeout_s, exc) from None
            missing = sorted(names - existing)
            if not missing:
                return
            if attempt < TOPIC_LOOKUPS - 1:
                time.sleep(0.5)
    if missing:
        raise LabError(
            f"topic(s) {', '.join(missing)} do not exist on {bootstrap_servers}; "
            f"create them with `kafkalab topics create` (auto-creation is off)"
        )


@contextmanager
def producer(bootstrap_servers: str, flush_timeout_s: float = FLUSH_TIMEOUT_S, **overrides) -> Iterator[Producer]:
    """A producer that is always flushed on exit; reports records it could not deliver."""
    client = Producer(base_config(bootstrap_servers, **{**RELIABLE_PRODUCER, **overrides}))
    try:
        yield client
    finally:
        left = client.flush(flush_timeout_s)
        if left:
            _LOG.warning(f"{left} record(s) were not acknowledged within {flush_timeout_s:.0f} s of closing "
                         f"the producer; they may be lost")


@contextmanager
def consumer(bootstrap_servers: str, group_id: str, topics: Iterable[str] = (), **overrides) -> Iterator[Consumer]:
    """A consumer that is always closed on exit (leaving its group promptly)."""
    settings = {"group.id": group_id, **CONSUMER_DEFAULTS, **overrides}
    client = Consumer(base_config(bootstrap_servers, **settings))
    try:
        topics = list(topics)
        if topics:
            client.subscribe(topics)
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class PartitionView:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def describe_partitions(bootstrap_servers: str, topics: Iterable[str] | None = None,
                        timeout_s: float = 10.0) -> list[PartitionView]:
    """Leader, replicas and in-sync replicas of every partition (internal topics left out)."""
    with admin(bootstrap_servers) as client:
        return _partition_views(client.list_topics(timeout=timeout_s), topics)


def describe_metadata(bootstrap_servers: str, timeout_s: float = 10.0) -> tuple[ClusterView, list[PartitionView]]:
    """Cluster and partitions from one metadata request, which any live broker answers (a
    describe_cluster waits for the controller the metadata names, which may be the node just
    killed); raises KafkaUnavailable if nobody answers."""
    try:
        with admin(bootstrap_servers) as client:
            metadata = client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise _unreachable(bootstrap_servers, timeout_s, exc) from None
    controller = metadata.controller_id if metadata.controller_id >= 0 else None
    view = ClusterView(metadata.cluster_id, tuple(sorted(metadata.brokers)), controller)
    return view, _partition_views(metadata, None)


def _partition_views(metadata, topics: Iterable[str] | None) -> list[PartitionView]:
    wanted = set(topics) if topics is not None else None
    views = []
    for name, topic in sorted(metadata.topics.items()):
        if name.startswith("__") or (wanted is not None and name not in wanted):
            continue
        for pid, part in sorted(topic.partitions.items()):
            views.append(PartitionView(name, pid, part.leader, tuple(part.replicas), tuple(part.isrs)))
    return views


def wait_for_full_isr(bootstrap_servers: str, topics: Iterable[str] | None, timeout_s: float = 60.0) -> float:
    """Block until every partition's ISR holds all its replicas (topics None: of every topic);
    returns the seconds waited."""
    topics = list(topics) if topics is not None else None
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            parts = describe_partitions(bootstrap_servers, topics)
        except KafkaException:  # metadata during a leader change: ask again
            parts = []
        if parts and all(set(p.isr) == set(p.replicas) for p in parts):
            return time.monotonic() - start
        time.sleep(0.5)
    raise LabError(f"partitions of {topics or 'every topic'} did not get all replicas back in sync within {timeout_s:g} s")


def wait_for_preferred_leaders(bootstrap_servers: str, timeout_s: float = 30.0, tolerance: float = 0.1) -> bool:
    """Wait until at most `tolerance` of all partitions are led by a replica other than
    their preferred one (the first replica); returns whether that happened in time.

    (See cluster.LocalCluster._elect_preferred_leaders for why that matters.)
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with admin(bootstrap_servers) as client:
                topics = client.list_topics(timeout=max(1.0, deadline - time.monotonic())).topics
        except KafkaException:
            topics = None  # not answered: try again
        if topics is not None:
            parts = [p for t in topics.values() for p in t.partitions.values() if p.replicas]
            if sum(1 for p in parts if p.leader != p.replicas[0]) <= tolerance * len(parts):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1.0)


def not_enough_replicas(bootstrap_servers: str, topic: str, timeout_s: float = 3.0) -> str | None:
    """One line naming NOT_ENOUGH_REPLICAS if partitions of `topic` have fewer in-sync replicas
    than its min.insync.replicas (acks=all writes to them are refused), else None.

    librdkafka retries such writes silently until message.timeout.ms (it reports the broker's
    NOT_ENOUGH_REPLICAS only in debug logs), so a producer that sees no acknowledgements asks
    the cluster why. Metadata errors (nobody answers) give None: the caller says something else.
    """
    from confluent_kafka.admin import ConfigResource, ResourceType

    try:
        parts = describe_partitions(bootstrap_servers, [topic], timeout_s)
        with admin(bootstrap_servers) as client:
            futures = client.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=timeout_s)
            configs = next(iter(futures.values())).result(timeout=timeout_s + 1)
        min_isr = int(configs["min.insync.replicas"].value)
    except Exception:  # noqa: BLE001 - a diagnosis, never a new failure
        return None
    short = [p for p in parts if len(p.isr) < min_isr]
    if not short:
        return None
    example = short[0]
    return (f"NOT_ENOUGH_REPLICAS: {len(short)} of {len(parts)} partitions of {topic} have fewer in-sync replicas "
            f"than min.insync.replicas={min_isr} (partition {example.partition}: ISR {list(example.isr)} of replicas "
            f"{list(example.replicas)}); acks=all writes wait until a broker returns")


def read_messages(bootstrap_servers: str, group_id: str, topics: Iterable[str], expected: int,
                  timeout_s: float = 60.0, linger_s: float = 0.0) -> list:
    """Up to `expected` records from the start of `topics`, bounded in time.

    With `linger_s`, keep reading that long after `expected` arrived, so a caller can
    check that nothing beyond it was there. Consumer errors other than end-of-partition
    raise; the caller compares what it got with what it expected.
    """
    got = []
    deadline = time.monotonic() + timeout_s
    with consumer(bootstrap_servers, group_id, topics) as client:
        while len(got) < expected and time.monotonic() < deadline:
            got += _good(client.consume(1000, timeout=0.5))
        linger_until = time.monotonic() + linger_s
        while time.monotonic() < linger_until:
            got += _good(client.consume(1000, timeout=0.2))
    return got


def _good(messages: list) -> list:
    for msg in messages:
        if msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
            raise LabError(f"consuming failed: {msg.error().str()}")
    return [m for m in messages if not m.error()]
