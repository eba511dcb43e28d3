"""MarketProcessor: trades + order books -> 1 s candles + book features, exactly once.

A consumer in a consumer group reads `trades` and `orderbooks`; what to do with each record
is kafkalab.core.market_logic's decision (per-partition event-time windows: watermark = max
event time - 500 ms, idle rule 2 s, late records -> dead-letters with reason "late: ...").
This module wraps those decisions in Kafka transactions and writes closed windows to
`candles` and `book-features`, keyed by symbol.

Exactly-once design
-------------------
- One Kafka transaction per loop step that did anything (`_transaction`, top to bottom:
  begin, produce dead letters and outputs, send offsets, commit, or abort): the results of
  the windows that closed, the dead letters, and the consumer offsets commit together or
  not at all. Consumers of the results read with
  isolation.level=read_committed, so an aborted or crashed step leaves no trace.
- The offset committed for an input partition is the offset of the oldest record still
  in an open window (or the next offset when none is open), so a restart replays
  exactly what the open windows need. Its metadata stores `v1 <closed_through_us>
  <replay_until>`: the watermark up to which windows were closed (and emitted), and the
  next offset read. A restarted processor skips replayed records of closed windows (no
  re-emitted window, no duplicate dead letter) and rebuilds the open ones.
- transactional.id = "<group_id>-<instance>" and group.instance.id (static membership)
  are stable across restarts: a restarted instance fences its dead predecessor, aborts
  its open transaction at once, and gets its partitions back without waiting for a
  session timeout. Run several instances in one group with different `instance` values.
- Rebalances: no transaction is open while the consumer polls (each step commits before
  the next poll), so on revoke the state of the revoked partitions is dropped, and on
  assign each partition's state is rebuilt from its committed offset and metadata.
- A failed commit that requires it aborts the transaction and rewinds every assigned
  partition to its committed offset (state rebuilt from the metadata): nothing is lost
  or doubled. A fatal client error, or a transactional call that hangs past its deadline
  (kafkalab.transports.kafka.transactions), replaces the producer and rejoins the group.

A bottleneck on purpose: `delay_per_record_s` (default 0: off) makes each step wait that long per
record it consumed, before its transaction, like per-record work that waits on something slow.
Only `kafkalab bench bottleneck` sets it, so that one instance cannot keep up with the input.

Bad input (undecodable, invalid, the wrong message type, an event time more than
`max_event_ahead_s` ahead of the record's Kafka timestamp) goes to dead-letters with the
reason, in the same transaction; the loop keeps going.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError
from kafkalab.core import serde, streams
from kafkalab.core.market_logic import MarketLogic, Output, Verdict
from kafkalab.core.models import InvalidMessage, now_us
from kafkalab.core.windowing import NEVER, PartitionWindows, WindowSpec
from kafkalab.runtime.loop import Component
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.deadletters import DeadLetters
from kafkalab.transports.kafka.transactions import (
    TXN_TIMEOUT_S, FatalClientError, HungProducer, ProcessorError, TransactionalProducer)
from kafkalab.transports.kafka.topics import BOOK_FEATURES, CANDLES, DEAD_LETTERS, ORDERBOOKS, TRADES

META_VERSION = "v1"
MAX_REJOINS = 5  # fatal consumer errors (a fenced static member) recovered from per run
# Records consumed per step at most, so per transaction: a transaction's round trips cost the same
# for 10 records or 10,000, so a bigger step drains a backlog faster; at low rates a step ends at
# poll_timeout_s with what arrived, so latency does not depend on it.
BATCH_SIZE = 20_000  # bench batching: 1,000 before


@dataclass(frozen=True)
class Topics:
    trades: str = TRADES
    orderbooks: str = ORDERBOOKS
    candles: str = CANDLES
    book_features: str = BOOK_FEATURES
    dead_letters: str = DEAD_LETTERS

    def all(self) -> list[str]:
        return [self.trades, self.orderbooks, self.candles, self.book_features, self.dead_letters]

    def stream_of(self, topic: str) -> str:
        """The stream an input topic carries."""
        return streams.TRADES if topic == self.trades else streams.ORDERBOOKS

    def topic_of(self, stream: str) -> str:
        """The topic an output stream goes to."""
        return self.candles if stream == streams.CANDLES else self.book_features


def encode_metadata(closed_through_us: int, replay_until: int) -> str:
    return f"{META_VERSION} {closed_through_us} {replay_until}"


def decode_metadata(text: str | None) -> tuple[int, int]:
    """(closed_through_us, replay_until) from committed metadata; nothing usable -> fresh."""
    parts = (text or "").split()
    if len(parts) == 3 and parts[0] == META_VERSION:
        try:
            return int(parts[1]), int(parts[2])
        except ValueError:
            pass
    return NEVER, -1


class MarketProcessor(Component):
    name = "market-processor"
    counter_names = ("consumed", "trades", "books", "candles", "book_features", "late",
                     "dead_letters", "replayed", "duplicates", "transactions", "aborted",
                     "producers_replaced")
    message_counter = "consumed"

    def __init__(self, config: LabConfig, *, group_id: str = "market-processor", instance: str = "0",
                 topics: Topics = Topics(), allowed_lateness_ms: int = 500, idle_timeout_ms: int = 2000,
                 max_event_ahead_s: float = 5.0, batch_size: int = BATCH_SIZE, poll_timeout_s: float = 0.1,
                 delay_per_record_s: float = 0.0) -> None:
        super().__init__()
        if not delay_per_record_s >= 0:  # also refuses NaN
            raise ConfigError(f"delay_per_record_s must be 0 (off) or positive (got {delay_per_record_s!r})")
        self.config = config
        self.group_id = group_id
        self.instance = str(instance)
        self.topics = topics
        self.formats = {t: serde.check_format(config.serializer_for(t)) for t in (topics.candles, topics.book_features)}
        self.spec = WindowSpec(allowed_lateness_us=int(allowed_lateness_ms) * 1000,
                               idle_timeout_us=int(idle_timeout_ms) * 1000)
        self.logic = MarketLogic(self.spec, int(max_event_ahead_s * 1_000_000))
        self.batch_size = int(batch_size)
        self.poll_timeout_s = float(poll_timeout_s)
        self.delay_per_record_s = float(delay_per_record_s)
        self.consumer: Consumer | None = None
        self.txn = TransactionalProducer(config.bootstrap_servers, f"{group_id}-{self.instance}", self.log,
                                         lambda: self.stop_requested, self.wait)
        self.dead_letters: DeadLetters | None = None
        self._rejoins = self._recoveries = 0

    @property
    def partitions(self) -> dict[tuple[str, int], PartitionWindows]:
        """The window state per assigned (topic, partition)."""
        return self.logic.partitions

    # -- lifecycle ----------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        bootstrap = self.config.bootstrap_servers
        clients.require_reachable(bootstrap)
        clients.require_topics(bootstrap, self.topics.all())
        self._consumer_stack = stack.enter_context(ExitStack())  # closed (and reopened) on its own: _rejoin
        self._open_consumer()
        stack.enter_context(self.txn)  # on exit: an open transaction aborted, then the producer flushed
        self.dead_letters = DeadLetters(self.txn.producer, "processor", self.topics.dead_letters)

    @property
    def producer(self) -> Producer:
        return self.txn.producer

    def _open_producer(self) -> None:
        self.dead_letters = DeadLetters(self.txn.open(), "processor", self.topics.dead_letters)

    def _open_consumer(self) -> None:
        member = f"{self.group_id}-{self.instance}"
        self.consumer = self._consumer_stack.enter_context(clients.consumer(
            self.config.bootstrap_servers, self.group_id, (),
            **{"group.instance.id": member, "session.timeout.ms": 10_000}))
        self.consumer.subscribe([self.topics.trades, self.topics.orderbooks],
                                on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def step(self) -> None:
        try:
            self._step()
        except FatalClientError as exc:
            self._recover(f"{exc.error.name()}: {exc.error.str()}")
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            self._recover(f"{exc.args[0].name()}: {exc.args[0].str()}")
        except HungProducer as exc:
            self._recover(str(exc), hung=True)

    def _step(self) -> None:
        """Decide about what arrived (no Kafka write yet), then commit the step's effects at once."""
        now = now_us()
        messages = self.consumer.consume(self.batch_size, self.poll_timeout_s)
        dead = self._handle_all(messages, now)
        if self.delay_per_record_s and messages:
            # A sleep, not a CPU loop: one instance's capacity is then the setting's, whatever the shared
            # cores leave, so a second instance doubles it and the experiment shows the group, not the CPU.
            self.wait(len(messages) * self.delay_per_record_s)
        self.logic.close_idle(now, self._caught_up)
        outputs = self.logic.take_outputs(now_us())
        if dead or outputs:
            self._transaction(dead, outputs)

    def finish(self) -> None:
        # Commit the latest positions too, so the group's lag is accurate after a clean stop.
        if self.partitions:
            try:
                self._transaction([], [])
            except HungProducer as exc:  # the broker's transaction timeout aborts what it held
                self.log.warning(f"{exc}; the last positions stay uncommitted (the next start replays them)")
                self.txn.discard(hung=True)

    # -- the exactly-once step ----------------------------------------------------------
    def _transaction(self, dead: list[tuple[Message, str]], outputs: list[Output]) -> None:
        """Dead letters, window results and input offsets commit together or not at all."""
        self.txn.begin()
        for msg, reason in dead:
            self.dead_letters.send(msg, reason)
        for output in outputs:
            self._produce(output)
        try:
            self.txn.commit(self._offsets(), self.consumer.consumer_group_metadata())
        except KafkaException as exc:
            self._abort_and_rewind(exc.args[0])
            return
        self.counters.add("transactions")
        self.dead_letters.raise_if_failed()

    def _produce(self, output: Output) -> None:
        topic = self.topics.topic_of(output.stream)
        payload, headers = serde.encode(output.record, self.formats[topic])
        while True:
            try:
                self.producer.produce(topic, key=output.record.symbol.encode(), value=payload, headers=headers)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.counters.add("candles" if output.stream == streams.CANDLES else "book_features")

    def _offsets(self) -> list[TopicPartition]:
        offsets = []
        for (topic, partition) in self.partitions:
            resume, closed_through_us, replay_until = self.logic.resume_state((topic, partition))
            if resume >= 0:
                metadata = encode_metadata(closed_through_us, replay_until)
                offsets.append(TopicPartition(topic, partition, resume, metadata=metadata))
        return offsets

    # -- records ------------------------------------------------------------------
    def _handle_all(self, messages: list[Message], now: int) -> list[tuple[Message, str]]:
        """What the market logic decides for each consumed message; returns the dead letters due."""
        dead: list[tuple[Message, str]] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal() or err.code() == KafkaError._FATAL:  # _FATAL (fatal() False): e.g. fenced
                    self._rejoin(err)
                    dead.clear()  # their partitions were dropped: the new assignment replays them
                elif err.code() != KafkaError._PARTITION_EOF:
                    self.log.warning(f"consumer: {err.name()}: {err.str()}")
                continue
            reason = self._handle(msg, now)
            if reason is not None:
                dead.append((msg, reason))
        return dead

    def _handle(self, msg: Message, now: int) -> str | None:
        """Count one message and return the reason it must go to dead-letters, if it must."""
        key = (msg.topic(), msg.partition())
        if key not in self.partitions:  # fetched before a revoke: not ours any more
            return None
        self.counters.add("consumed")
        try:
            record = self._decode(msg)
        except InvalidMessage as exc:
            decision = self.logic.handle_invalid(key, msg.offset(), str(exc), now)
        else:
            decision = self.logic.handle(key, msg.offset(), record, now)
        if decision.verdict is Verdict.ADDED:
            self.counters.add("trades" if key[0] == self.topics.trades else "books")
        elif decision.verdict is Verdict.REPLAYED:
            self.counters.add("replayed")
        elif decision.verdict is Verdict.DUPLICATE:
            self.counters.add("duplicates")
        elif decision.verdict is Verdict.LATE:
            self.counters.add("late")
        if decision.verdict in (Verdict.LATE, Verdict.INVALID):
            self.counters.add("dead_letters")
            return decision.reason
        return None

    def _decode(self, msg: Message):
        record = serde.decode(msg.value(), msg.headers())
        _, kafka_ms = msg.timestamp()
        return self.logic.validate(self.topics.stream_of(msg.topic()), record,
                                   kafka_ms * 1000 if kafka_ms > 0 else None,
                                   where=f"topic {msg.topic()}", stamp="the record's Kafka timestamp")

    def _caught_up(self, key: tuple[str, int], part: PartitionWindows) -> bool:
        """Nothing left to read in the partition, as far as the last fetch told (no request)."""
        _, end = self.consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
        return end < 0 or part.next_offset < 0 or part.next_offset >= end

    # -- recovery paths -------------------------------------------------------------------
    def _abort_and_rewind(self, err: KafkaError) -> None:
        """A failed step: abort its transaction and rewind every assigned partition to its
        committed offset (state rebuilt from the metadata): nothing lost or doubled."""
        if err.fatal():
            raise FatalClientError(err)
        if not (err.txn_requires_abort() or err.retriable()):
            raise ProcessorError(f"transaction failed: {err.str()}; restart the processor "
                                 f"(it resumes from the last committed transaction)") from None
        self.log.warning(f"transaction aborted ({err.str()}); rewinding to the committed offsets")
        self.txn.abort()
        self.counters.add("aborted")
        if err.code() == KafkaError.FENCED_INSTANCE_ID:  # our consumer was fenced: a rewind cannot work
            self._rejoin(err)
        else:
            self._rewind()

    def _rejoin(self, error: KafkaError) -> None:
        """A static member can be fenced by its own group.instance.id when the group coordinator
        fails over (apache/kafka#23542): a fatal consumer error. Like a restart: abort the open
        transaction, drop the window state, rejoin; on assignment each partition is rebuilt from
        its committed offset and metadata (exactly once, as after a crash)."""
        self._rejoins += 1
        if self._rejoins > MAX_REJOINS:
            raise ProcessorError(f"consumer failed {self._rejoins} times ({error.str()}); restart the processor")
        self.log.warning(f"consumer failed ({error.str()}); rejoining the group")
        self._reopen_consumer()

    def _reopen_consumer(self) -> None:
        self.txn.abort_quietly()
        self.logic.clear()
        try:
            self._consumer_stack.close()
        except (KafkaException, RuntimeError):
            pass  # closing a fenced consumer may complain; it is gone either way
        self._open_consumer()

    def _recover(self, reason: str, hung: bool = False) -> None:
        """A fatal producer error (e.g. INVALID_TXN_STATE after a transaction timed out while
        brokers were down) or a hung transactional call leaves the producer unusable. Recover
        like a restart: a new producer with the same transactional.id (init_transactions fences
        the old one and aborts its transaction), then rejoin the group (state rebuilt from the
        committed offsets)."""
        while True:
            self._recoveries += 1
            if self._recoveries > MAX_REJOINS:
                raise ProcessorError(f"Kafka client failed {self._recoveries} times ({reason}); restart the processor")
            self.log.warning(f"{reason}; restarting the Kafka clients")
            self.txn.discard(hung=hung)
            self.counters.add("producers_replaced")
            try:
                self._open_producer()
                self._reopen_consumer()
                return
            except HungProducer as exc:  # the new one hangs too (the cluster is still unreachable)
                reason, hung = str(exc), True

    # -- partition state (rebalances) ---------------------------------------------------
    def _restore(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Fresh window state per partition from its committed offset and metadata."""
        committed = self.consumer.committed(partitions, timeout=TXN_TIMEOUT_S)
        for tp in committed:
            closed_through, replay_until = decode_metadata(tp.metadata)
            self.logic.open((tp.topic, tp.partition), self.topics.stream_of(tp.topic), closed_through, replay_until,
                            tp.offset)
        return committed

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.logic.drop((tp.topic, tp.partition))

    def _rewind(self) -> None:
        assigned = [TopicPartition(t, p) for (t, p) in self.partitions]
        for tp in self._restore(assigned):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
