"""Kafka CSV sinks: trades -> trades.csv, candles -> candles.csv, book features -> book_features.csv.

Delivery guarantee: every record of the topic lands in its CSV exactly once, across kill -9
and restarts. The files' durability (whole lines, background fsync, one writer, one file per
source) is kafkalab.core.csvstore's; this module adds the Kafka side:
- Idempotent across restarts. Every row keeps its position "partition:offset" (transport
  "kafka"). On start the sink reads the highest offset per partition from its CSV, starts each
  assigned partition right after it, and drops any record at or below it. The CSV, not the
  consumer group, is the source of truth; the group's offsets are committed only after
  the rows are fsync'ed (for lag monitoring and for partitions the file has not seen yet).
- Low latency: the first record of a batch is awaited with a blocking poll, the rest of
  what is already fetched is taken without waiting, and `written_ts_us` is taken just
  before the write.
- One file per topic incarnation: the file's source is the topic and its topic id; if the
  topic was deleted and recreated (offsets start again at 0) the old CSV is moved aside
  instead of silently skipping the new records.
- Undecodable or invalid records go to dead-letters; the sink keeps going.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from confluent_kafka import KafkaError, KafkaException

from kafkalab.core import csvstore, serde
from kafkalab.core.csvstore import (TRADES_CSV, BackgroundSync, CsvAppender, RecentKeys, SinkTarget, claim_csv,
                                    exclusive_writer, message_values, require_writable_dir, written_positions)
from kafkalab.core.models import InvalidMessage, now_us
from kafkalab.errors import LabError
from kafkalab.runtime.loop import Component
from kafkalab.transports.kafka import clients, topics
from kafkalab.transports.kafka.clients import require_topics
from kafkalab.transports.kafka.deadletters import DeadLetters
from kafkalab.transports.kafka.topics import TRANSPORT, parse_position, position


class ResumeFilter:
    """Remembers the last offset written per partition; refuses anything at or below it."""

    def __init__(self, last: Mapping[int, int] | None = None):
        self.last: dict[int, int] = dict(last or {})

    def accept(self, partition: int, offset: int) -> bool:
        return offset > self.last.get(partition, -1)

    def note(self, partition: int, offset: int) -> None:
        if offset > self.last.get(partition, -1):
            self.last[partition] = offset

    def next_offset(self, partition: int) -> int | None:
        """Where to resume reading a partition, or None if nothing of it was written."""
        last = self.last.get(partition)
        return None if last is None else last + 1

    @classmethod
    def from_csv(cls, path: Path) -> "ResumeFilter":
        """The last offset per partition among the rows this transport wrote to a sink CSV."""
        resume = cls()
        for partition, offset in written_positions(path, TRANSPORT, parse_position):
            resume.note(partition, offset)
        return resume


# ---- the Kafka side ----------------------------------------------------------------------

DEFAULT_MAX_BATCH = 5000
POLL_TIMEOUT_S = 0.1
WARN_EVERY_S = 5.0
COMMIT_INTERVAL_S = 0.5
MAX_REJOINS = 5  # fatal consumer errors a sink recovers from by rejoining, per run

# Latency at low rates: the first record of a batch is waited for with a blocking poll and
# whatever else is already fetched is drained without waiting (consume(timeout=0)), so a
# lone record is written at once and a burst is written as one batch (one fsync).
# The broker answers a fetch as soon as one byte is there (fetch.min.bytes=1), so
# fetch.wait.max.ms only bounds idle fetches; 100 ms keeps idle wake-ups cheap.
SINK_CONSUMER = {
    "fetch.wait.max.ms": 100,
    "fetch.min.bytes": 1,
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1_000,
}


@dataclass(frozen=True)
class SinkSettings:
    bootstrap_servers: str
    group_id: str
    targets: tuple[SinkTarget, ...]
    dead_letters_topic: str = "dead-letters"
    max_batch: int = DEFAULT_MAX_BATCH
    consumer_overrides: Mapping[str, object] | None = None


def topic_id(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> str:
    """Kafka's id of the topic: it changes when a topic is deleted and created again."""
    from confluent_kafka import TopicCollection

    from kafkalab.transports.kafka.clients import TOPIC_LOOKUPS, admin

    for attempt in range(TOPIC_LOOKUPS):
        try:
            with admin(bootstrap_servers) as client:  # open until the future is done: it dies with its client
                futures = client.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)
                return str(futures[topic].result(timeout=timeout_s + 1).topic_id)
        except KafkaException as exc:
            error = exc.args[0]
        # A topic created a moment ago may not be in the answering broker's metadata yet (seen
        # right after a reliability scenario created its topics): look again briefly.
        if error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART or attempt == TOPIC_LOOKUPS - 1:
            break
        time.sleep(0.5)
    raise LabError(f"cannot describe topic {topic!r} on {bootstrap_servers} ({error.str()}); "
                   f"is the cluster up and does the topic exist (`kafkalab topics create`)?") from None


class CsvSink(Component):
    """Consumes topics into CSV files: whole lines, durable batches, no duplicates on restart."""

    counter_names = ("consumed", "written", "skipped", "dead_letters")
    message_counter = "consumed"

    def __init__(self, settings: SinkSettings, name: str = "csv-sink"):
        self.name = name
        self.counter_names = (*CsvSink.counter_names, *(t.counter for t in settings.targets))
        super().__init__()
        self.settings = settings
        self.targets = {t.stream: t for t in settings.targets}
        self.files: dict[str, CsvAppender] = {}
        self.resume: dict[str, ResumeFilter] = {}
        self.recent: dict[str, RecentKeys] = {}  # per topic, for targets with key_fields
        self.consumer = None
        self.dead_letters = None
        self._committed: dict[tuple[str, int], int] = {}
        self._last_warning = float("-inf")
        self._last_commit = float("-inf")
        self.syncer: BackgroundSync | None = None
        # (fsync ticket, consumer positions right after that batch): committable once durable
        self._pending: list[tuple[int, list]] = []

    # -- lifecycle ---------------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        s = self.settings
        for folder in {t.path.parent for t in s.targets}:
            require_writable_dir(folder)  # before anything is consumed
        require_topics(s.bootstrap_servers, [*self.targets, s.dead_letters_topic])
        for target in s.targets:
            stack.enter_context(exclusive_writer(target.path))
            source = {"topic": target.stream, "topic_id": topic_id(s.bootstrap_servers, target.stream)}
            moved = claim_csv(target.path, source)
            if moved is not None:
                self.log.warning(f"{target.path.name} belonged to an earlier '{target.stream}' topic; "
                                 f"moved it to {moved.name}")
            appender = stack.enter_context(CsvAppender(target.path, target.columns))
            self.files[target.stream] = appender
            self.resume[target.stream] = ResumeFilter.from_csv(target.path)
            self.recent[target.stream] = RecentKeys()
            self.counters.set(target.counter, 0)
        # Entered after the files, so it stops (last fsync done) before they are closed.
        self.syncer = stack.enter_context(BackgroundSync(list(self.files.values())))
        producer = stack.enter_context(clients.producer(s.bootstrap_servers))
        self.dead_letters = DeadLetters(producer, self.name, s.dead_letters_topic)
        self._consumer_stack = stack.enter_context(ExitStack())  # closed (and reopened) on its own: _rejoin
        self._open_consumer()

    def _open_consumer(self) -> None:
        s = self.settings
        settings = {**SINK_CONSUMER, "group.instance.id": self.instance_id(), **(s.consumer_overrides or {})}
        self.consumer = self._consumer_stack.enter_context(clients.consumer(s.bootstrap_servers, s.group_id, **settings))
        self.consumer.subscribe(list(self.targets), on_assign=self._on_assign)

    def _rejoin(self, error: KafkaError) -> None:
        """A static member can be fenced by its own group.instance.id when the group coordinator
        fails over (the broker lost the answer to its join; apache/kafka#23542): the consumer is
        then dead for good. The CSV is the source of truth, so a new consumer simply rejoins and
        resumes after the rows on disk."""
        self._rejoins = getattr(self, "_rejoins", 0) + 1
        if self._rejoins > MAX_REJOINS:
            raise LabError(f"{self.name}: Kafka consumer failed {self._rejoins} times ({error.str()}); "
                           f"restart the sink (it resumes from its CSV)")
        self.log.warning(f"consumer failed ({error.str()}); rejoining the group")
        try:
            self._consumer_stack.close()
        except (KafkaException, RuntimeError):
            pass  # closing a fenced consumer may complain; it is gone either way
        self._committed.clear()
        self._pending.clear()
        self._open_consumer()

    def instance_id(self) -> str:
        """A static group member id derived from the files this sink writes.

        A sink restarted after kill -9 takes its old place in the group at once, without
        waiting for the dead member's session to expire. (A second live process on the same
        files is refused earlier, by `exclusive_writer`.)
        """
        files = "|".join(str(t.path.resolve()) for t in self.settings.targets)
        return f"{self.name}-{hashlib.sha1(files.encode()).hexdigest()[:12]}"

    def _on_assign(self, consumer, partitions) -> None:
        """Start each partition right after the last row the CSV holds for it."""
        for tp in partitions:
            resume_at = self.resume[tp.topic].next_offset(tp.partition)
            if resume_at is not None:
                tp.offset = resume_at
        # Partitions the file has never seen start at the group's committed offset
        # (or the beginning): those offsets were committed only after their rows were durable.
        # The default (eager) assignment strategy hands over the full assignment here.
        consumer.assign(partitions)

    def step(self) -> None:
        first = self.consumer.poll(POLL_TIMEOUT_S)
        if first is None:
            # Idle: commit what the throttle held back (once COMMIT_INTERVAL_S has passed:
            # at a low rate every record is followed by an idle poll, and a commit per record
            # is a replicated write per record); a transaction marker may also have moved
            # the position past the last record.
            self._commit(asynchronous=True)
            return
        limit = self.settings.max_batch - 1
        left = self.messages_left()
        if left is not None:
            limit = min(limit, max(0, left - 1))
        batch = [first, *(self.consumer.consume(limit, timeout=0) if limit else [])]
        self._write(batch)

    def finish(self) -> None:
        self.syncer.wait(self.syncer.request())  # everything written is on disk
        self._commit(asynchronous=False, throttle=False)

    def summary(self) -> str:
        files = ", ".join(f"{a.path}" for a in self.files.values())
        return f"{self.name}: {self.counters!r} -> {files}"

    # -- one batch ---------------------------------------------------------------------
    def _write(self, batch) -> None:
        accepted: dict[str, list[tuple[tuple, int, int]]] = {}
        dead = 0
        for msg in batch:
            if msg.error() is not None:
                self._consumer_error(msg.error())
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            self.counters.add("consumed")
            target = self.targets[topic]
            if not self.resume[topic].accept(partition, offset):
                self.counters.add("skipped")  # already in the CSV (a restart replayed it)
                continue
            try:
                values = self._decode(msg, target)
            except (InvalidMessage, ValueError) as exc:
                self.dead_letters.send(msg, str(exc))
                dead += 1
                continue
            if target.key_fields and not self.recent[topic].add(target.key_of(values)):
                self.counters.add("skipped")  # a copy the producer wrote twice (same record, new offset)
                self.resume[topic].note(partition, offset)
                continue
            accepted.setdefault(topic, []).append((values, partition, offset))
        written_ts_us = now_us()  # the moment the rows are handed to the file
        for topic, items in accepted.items():
            target, out, resume = self.targets[topic], self.files[topic], self.resume[topic]
            out.write([(*values, written_ts_us, TRANSPORT, position(p, o)) for values, p, o in items])
            for _values, p, o in items:
                resume.note(p, o)
            self.counters.add(target.counter, len(items))
            self.counters.add("written", len(items))
        if dead:
            self.counters.add("dead_letters", dead)
            self.dead_letters.flush(clients.FLUSH_TIMEOUT_S)  # acknowledged before we commit past them
        self._pending.append((self.syncer.request(), self._positions()))
        self._commit(asynchronous=True)

    def _positions(self) -> list:
        try:
            return [tp for tp in self.consumer.position(self.consumer.assignment()) if tp.offset >= 0]
        except KafkaException:
            return []

    def _decode(self, msg, target: SinkTarget) -> tuple:
        """The message part of the row, or InvalidMessage/ValueError (-> dead letters)."""
        record = serde.decode(msg.value(), msg.headers())
        if not isinstance(record, target.record_type):
            raise InvalidMessage(f"expected a {target.record_type.TYPE} on topic {target.stream}, got a {record.TYPE}")
        return message_values(record, target.columns)

    def _consumer_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        # A fatal consumer error (e.g. a static member fenced) arrives as code _FATAL with
        # fatal() False; the consumer is dead either way: fail loudly instead of idling forever.
        if error.fatal() or error.code() == KafkaError._FATAL:
            self._rejoin(error)
            return
        self._warn(f"consumer warning: {error.str()}")

    def _warn(self, text: str) -> None:
        """One line, at most every WARN_EVERY_S (a broker outage must not flood the output)."""
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            self.log.warning(text)

    def _commit(self, asynchronous: bool, throttle: bool = True) -> None:
        """Commit the positions whose rows are on disk (fsync'ed; dead letters acknowledged).

        Positions (not last offset + 1) also step over transaction markers, so a drained
        sink shows zero lag on topics written by a transactional producer. At most every
        COMMIT_INTERVAL_S while busy: each commit is a replicated write to
        __consumer_offsets, and the CSV (not the group) is what a restart resumes from.
        """
        if self.consumer is None or self.syncer is None:
            return
        now = time.monotonic()
        if throttle and now - self._last_commit < COMMIT_INTERVAL_S:
            return
        durable = self.syncer.done
        ready = [positions for ticket, positions in self._pending if ticket <= durable]
        self._pending = [(t, p) for t, p in self._pending if t > durable]
        if ready:
            positions = ready[-1]
        elif not self._pending:
            positions = self._positions()  # nothing unsynced: the current position is on disk
        else:
            return
        offsets = [tp for tp in positions if self._committed.get((tp.topic, tp.partition)) != tp.offset]
        if not offsets:
            return
        self._last_commit = now
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:
            # Not fatal for correctness: the CSV is the truth and restarts resume from it.
            self._warn(f"offset commit failed ({exc.args[0].str()}); the CSV still resumes correctly")
            return
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset


# ---- the two sinks -------------------------------------------------------------------------

# A trade written again at a new offset (an idempotent producer's retry around an outage) keeps
# its id and produced time; a later run's trade with the same id does not.
TRADE_KEY = ("symbol", "trade_id", "produced_ts_us")


def trades_target(data_dir: Path, topic: str = topics.TRADES, file_name: str = TRADES_CSV) -> SinkTarget:
    return csvstore.trades_target(data_dir, topic, file_name, key_fields=TRADE_KEY)


class TradesCsvSink(CsvSink):
    """trades -> results/data/trades.csv"""

    def __init__(self, settings: SinkSettings):
        super().__init__(settings, name="sink-trades-csv")


class CandlesCsvSink(CsvSink):
    """candles -> results/data/candles.csv, book-features -> results/data/book_features.csv"""

    def __init__(self, settings: SinkSettings):
        super().__init__(settings, name="sink-candles-csv")
