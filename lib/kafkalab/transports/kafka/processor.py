"""MarketProcessor: trades + order books -> 1 s candles + book features, exactly once.

A consumer in a consumer group reads `trades` and `orderbooks`, keeps per-partition
event-time windows (kafkalab.core.windowing: watermark = max event time - 500 ms, idle rule
2 s, late records -> dead-letters with reason "late: ...") and writes closed windows to
`candles` and `book-features`, keyed by symbol.

Exactly-once design
-------------------
- One Kafka transaction per loop step that did anything: the results of the windows
  that closed, the dead letters, and the consumer offsets (send_offsets_to_transaction)
  commit together or not at all. Consumers of the results read with
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
  or doubled.

Bad input (undecodable, invalid, the wrong message type, an event time more than
`max_event_ahead_s` ahead of the record's Kafka timestamp) goes to dead-letters with the
reason, in the same transaction; the loop keeps going.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.runtime.loop import Component, run_component
from kafkalab.config import LabConfig
from kafkalab.transports.kafka.deadletters import DeadLetters
from kafkalab.errors import LabError
from kafkalab.core.models import InvalidMessage, OrderBook, Trade, now_us
from kafkalab.transports.kafka.topics import BOOK_FEATURES, CANDLES, DEAD_LETTERS, ORDERBOOKS, TRADES
from kafkalab.core.windowing import (NEVER, BookFeaturesBuilder, CandleBuilder, Outcome, PartitionWindows, Window,
                        WindowSpec)

TXN_TIMEOUT_S = 30.0
# An open transaction of a crashed instance blocks read_committed readers until it is
# aborted: keep the broker-side timeout short (our steps commit well within it).
TRANSACTION_TIMEOUT_MS = 10_000
META_VERSION = "v1"
MAX_REJOINS = 5  # fatal consumer errors (a fenced static member) recovered from per run


class ProcessorError(LabError):
    """The processor cannot continue (fatal producer/consumer error)."""


class _FatalClientError(Exception):
    """A fatal Kafka client error that step() recovers from by restarting the clients."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error


@dataclass(frozen=True)
class Topics:
    trades: str = TRADES
    orderbooks: str = ORDERBOOKS
    candles: str = CANDLES
    book_features: str = BOOK_FEATURES
    dead_letters: str = DEAD_LETTERS

    def all(self) -> list[str]:
        return [self.trades, self.orderbooks, self.candles, self.book_features, self.dead_letters]


def encode_metadata(part: PartitionWindows) -> str:
    return f"{META_VERSION} {part.closed_through_us} {max(part.replay_until, part.next_offset)}"


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
                     "dead_letters", "replayed", "transactions", "aborted")
    message_counter = "consumed"

    def __init__(self, config: LabConfig, *, group_id: str = "market-processor", instance: str = "0",
                 topics: Topics = Topics(), allowed_lateness_ms: int = 500, idle_timeout_ms: int = 2000,
                 max_event_ahead_s: float = 5.0, batch_size: int = 1000, poll_timeout_s: float = 0.1) -> None:
        super().__init__()
        self.config = config
        self.group_id = group_id
        self.instance = str(instance)
        self.topics = topics
        self.formats = {t: serde.check_format(config.serializer_for(t)) for t in (topics.candles, topics.book_features)}
        self.spec = WindowSpec(allowed_lateness_us=int(allowed_lateness_ms) * 1000,
                               idle_timeout_us=int(idle_timeout_ms) * 1000)
        self.max_ahead_us = int(max_event_ahead_s * 1_000_000)
        self.batch_size = int(batch_size)
        self.poll_timeout_s = float(poll_timeout_s)
        self.partitions: dict[tuple[str, int], PartitionWindows] = {}
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.dead_letters: DeadLetters | None = None
        self.in_transaction = False

    # -- lifecycle ----------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        bootstrap = self.config.bootstrap_servers
        clients.require_reachable(bootstrap)
        clients.require_topics(bootstrap, self.topics.all())
        self._consumer_stack = stack.enter_context(ExitStack())  # closed (and reopened) on its own: _rejoin
        self._open_consumer()
        self._producer_stack = stack.enter_context(ExitStack())  # replaced on a fatal error: _recover
        stack.callback(self._abort_open_transaction)  # runs before the producer is flushed
        self._open_producer()

    def _open_producer(self) -> None:
        member = f"{self.group_id}-{self.instance}"
        self.producer = self._producer_stack.enter_context(clients.producer(
            self.config.bootstrap_servers,
            **{"transactional.id": member, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}))
        self._retrying(lambda: self.producer.init_transactions(TXN_TIMEOUT_S))
        self.dead_letters = DeadLetters(self.producer, "processor", self.topics.dead_letters)

    def _open_consumer(self) -> None:
        member = f"{self.group_id}-{self.instance}"
        self.consumer = self._consumer_stack.enter_context(clients.consumer(
            self.config.bootstrap_servers, self.group_id, (),
            **{"group.instance.id": member, "session.timeout.ms": 10_000}))
        self.consumer.subscribe([self.topics.trades, self.topics.orderbooks],
                                on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _rejoin(self, error: KafkaError) -> None:
        """A static member can be fenced by its own group.instance.id when the group coordinator
        fails over (apache/kafka#23542): a fatal consumer error. Like a restart: abort the open
        transaction, drop the window state, rejoin; on assignment each partition is rebuilt from
        its committed offset and metadata (exactly once, as after a crash)."""
        self._rejoins = getattr(self, "_rejoins", 0) + 1
        if self._rejoins > MAX_REJOINS:
            raise ProcessorError(f"consumer failed {self._rejoins} times ({error.str()}); restart the processor")
        print(f"{self.name}: consumer failed ({error.str()}); rejoining the group", flush=True)
        self._reopen_consumer()

    def _reopen_consumer(self) -> None:
        self._abort_open_transaction()
        self.partitions.clear()
        try:
            self._consumer_stack.close()
        except (KafkaException, RuntimeError):
            pass  # closing a fenced consumer may complain; it is gone either way
        self._open_consumer()

    def step(self) -> None:
        try:
            self._step()
        except _FatalClientError as exc:
            self._recover(exc.error)
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            self._recover(exc.args[0])

    def _recover(self, error: KafkaError) -> None:
        """A fatal producer error (e.g. INVALID_TXN_STATE after a transaction timed out while
        brokers were down) kills the transactional producer for good. Recover like a restart:
        a new producer with the same transactional.id (init_transactions fences the old one and
        aborts its transaction), then rejoin the group (state rebuilt from committed offsets)."""
        self._recoveries = getattr(self, "_recoveries", 0) + 1
        if self._recoveries > MAX_REJOINS:
            raise ProcessorError(f"Kafka client failed {self._recoveries} times ({error.str()}); restart the processor")
        print(f"{self.name}: {error.name()}: {error.str()}; restarting the Kafka clients", flush=True)
        self.in_transaction = False  # the dead producer's transaction is aborted by the new one
        try:
            self._producer_stack.close()
        except (KafkaException, RuntimeError):
            pass  # flushing a failed producer raises; its records were never committed
        self._open_producer()
        self._reopen_consumer()

    def _step(self) -> None:
        messages = self.consumer.consume(self.batch_size, self.poll_timeout_s)
        now = now_us()
        for msg in messages:
            self._handle(msg, now)
        idle_topics = self._idle_topics(now)
        for (topic, partition), part in self.partitions.items():
            part.close_idle(now, topic in idle_topics and self._caught_up(topic, partition, part))
        ready = [(tp, w) for tp, part in self.partitions.items() for w in part.take_ready()]
        if ready:
            self._begin()
            for (topic, _), window in ready:
                self._emit(topic, window)
        if self.in_transaction:
            self._commit()

    def finish(self) -> None:
        # Commit the latest positions too, so the group's lag is accurate after a clean stop.
        if self.partitions:
            self._begin()
        if self.in_transaction:
            self._commit()

    # -- records ------------------------------------------------------------------
    def _handle(self, msg: Message, now: int) -> None:
        err = msg.error()
        if err is not None:
            if err.fatal() or err.code() == KafkaError._FATAL:  # _FATAL (fatal() False): e.g. fenced
                self._rejoin(err)
                return
            if err.code() != KafkaError._PARTITION_EOF:
                print(f"{self.name}: consumer: {err.name()}: {err.str()}", flush=True)
            return
        tp = (msg.topic(), msg.partition())
        part = self.partitions.get(tp)
        if part is None:  # fetched before a revoke: not ours any more
            return
        self.counters.add("consumed")
        offset = msg.offset()
        try:
            record = self._decode(msg)
        except InvalidMessage as exc:
            part.seen(offset, now)
            if offset < part.replay_until:  # dead-lettered before the restart
                self.counters.add("replayed")
                return
            self._dead_letter(msg, str(exc))
            return
        outcome = part.add(record.symbol, record.event_ts_us, offset, record, now)
        if outcome is Outcome.ADDED:
            self.counters.add("trades" if isinstance(record, Trade) else "books")
        elif outcome is Outcome.REPLAYED:
            self.counters.add("replayed")
        else:
            self.counters.add("late")
            start = self.spec.start_of(record.event_ts_us)
            self._dead_letter(msg, f"late: event time {record.event_ts_us} us is in window "
                                   f"[{start}, {start + self.spec.size_us}) of {record.symbol}, closed at "
                                   f"watermark {part.closed_through_us} us")

    def _idle_topics(self, now_us: int) -> set[str]:
        """Input topics none of whose assigned partitions received a record for idle_timeout.

        The idle rule closes windows by wall-clock time only when the whole input has
        stopped (the generators ended). A single quiet partition while its neighbours
        still flow is rather a partition whose leader is failing over: its producer is
        retrying, and closing its windows early would turn those records into "late".
        """
        busy = {topic for (topic, _), part in self.partitions.items()
                if part.last_arrival_us is not None and now_us - part.last_arrival_us < self.spec.idle_timeout_us}
        return {topic for topic, _ in self.partitions} - busy

    def _caught_up(self, topic: str, partition: int, part: PartitionWindows) -> bool:
        """Nothing left to read in the partition, as far as the last fetch told (no request)."""
        _, end = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        return end < 0 or part.next_offset < 0 or part.next_offset >= end

    def _decode(self, msg: Message):
        record = serde.decode(msg.value(), msg.headers())
        expected = Trade if msg.topic() == self.topics.trades else OrderBook
        if not isinstance(record, expected):
            raise InvalidMessage(f"a {record.TYPE} record in topic {msg.topic()} (expected {expected.TYPE})")
        kind, kafka_ms = msg.timestamp()
        if kafka_ms > 0 and record.event_ts_us - kafka_ms * 1000 > self.max_ahead_us:
            raise InvalidMessage(f"event time {record.event_ts_us} us is more than {self.max_ahead_us / 1e6:g} s "
                                 f"ahead of the record's Kafka timestamp ({kafka_ms} ms)")
        return record

    def _dead_letter(self, msg: Message, reason: str) -> None:
        self._begin()
        self.dead_letters.send(msg, reason)
        self.counters.add("dead_letters")

    def _emit(self, input_topic: str, window: Window) -> None:
        result = window.result(now_us())
        topic = self.topics.candles if input_topic == self.topics.trades else self.topics.book_features
        payload, headers = serde.encode(result, self.formats[topic])
        while True:
            try:
                self.producer.produce(topic, key=result.symbol.encode(), value=payload, headers=headers)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.counters.add("candles" if input_topic == self.topics.trades else "book_features")

    # -- transactions -------------------------------------------------------------
    def _begin(self) -> None:
        if not self.in_transaction:
            self.producer.begin_transaction()
            self.in_transaction = True

    def _offsets(self) -> list[TopicPartition]:
        offsets = []
        for (topic, partition), part in self.partitions.items():
            resume = part.resume_offset()
            if resume >= 0:
                offsets.append(TopicPartition(topic, partition, resume, metadata=encode_metadata(part)))
        return offsets

    def _commit(self) -> None:
        """Offsets + commit in the open transaction; on an abortable failure, abort and rewind."""
        try:
            offsets = self._offsets()
            if offsets:
                group = self.consumer.consumer_group_metadata()
                self._retrying(lambda: self.producer.send_offsets_to_transaction(offsets, group, TXN_TIMEOUT_S))
            self._retrying(lambda: self.producer.commit_transaction(TXN_TIMEOUT_S))
        except KafkaException as exc:
            err = exc.args[0]
            if err.fatal():
                raise _FatalClientError(err)
            if not (err.txn_requires_abort() or err.retriable()):
                raise ProcessorError(f"transaction failed: {err.str()}; restart the processor "
                                     f"(it resumes from the last committed transaction)") from None
            print(f"{self.name}: transaction aborted ({err.str()}); rewinding to the committed offsets", flush=True)
            self._retrying_abort()
            self.in_transaction = False
            self.counters.add("aborted")
            if err.code() == KafkaError.FENCED_INSTANCE_ID:  # our consumer was fenced: a rewind cannot work
                self._rejoin(err)
            else:
                self._rewind()
            return
        self.in_transaction = False
        self.counters.add("transactions")
        self.dead_letters.raise_if_failed()

    def _retrying(self, call) -> None:
        """Retry what librdkafka calls retriable (e.g. a timeout while brokers are down),
        until it works or a stop is requested (then the caller aborts: nothing committed)."""
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or err.txn_requires_abort() or self.stop_requested:
                    raise
                print(f"{self.name}: {err.str()}; retrying", flush=True)
                self.wait(0.5)

    def _retrying_abort(self) -> None:
        """With too few brokers the coordinator cannot write the abort: librdkafka times out
        with "retry call to resume". Retry until the brokers are back (or a stop is requested;
        the broker then aborts the transaction after transaction.timeout.ms by itself)."""
        while True:
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise _FatalClientError(err) from None
                if not err.retriable() or self.stop_requested:
                    raise ProcessorError(f"could not abort the transaction ({err.str()}); restart the processor "
                                         f"(it resumes from the last committed transaction)") from None
                print(f"{self.name}: abort: {err.str()}; retrying", flush=True)
                self.wait(0.5)

    def _abort_open_transaction(self) -> None:
        if self.in_transaction:
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
            except KafkaException:
                pass  # the broker aborts it after transaction.timeout.ms anyway
            self.in_transaction = False

    # -- partition state ---------------------------------------------------------------
    def _builder(self, topic: str):
        return CandleBuilder if topic == self.topics.trades else BookFeaturesBuilder

    def _restore(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Fresh window state per partition from its committed offset and metadata."""
        committed = self.consumer.committed(partitions, timeout=TXN_TIMEOUT_S)
        for tp in committed:
            closed_through, replay_until = decode_metadata(tp.metadata)
            part = PartitionWindows(self._builder(tp.topic), self.spec, closed_through, replay_until)
            part.next_offset = part.restored_offset = tp.offset if tp.offset >= 0 else -1
            self.partitions[(tp.topic, tp.partition)] = part
        return committed

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.partitions.pop((tp.topic, tp.partition), None)

    def _rewind(self) -> None:
        assigned = [TopicPartition(t, p) for (t, p) in self.partitions]
        for tp in self._restore(assigned):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))


def run_market_processor(config: LabConfig, *, interactive: bool | None = None, max_seconds: float = 0,
                         max_messages: int = 0, stop_file: str = "", trades_topic: str = "",
                         orderbooks_topic: str = "", candles_topic: str = "", book_features_topic: str = "",
                         dead_letters_topic: str = "", **kwargs):
    """Notebook entry point: empty topic names mean the application's topics."""
    topics = Topics(trades_topic or TRADES, orderbooks_topic or ORDERBOOKS, candles_topic or CANDLES,
                    book_features_topic or BOOK_FEATURES, dead_letters_topic or DEAD_LETTERS)
    return run_component(MarketProcessor(config, topics=topics, **kwargs), interactive=interactive,
                         max_seconds=max_seconds, max_messages=max_messages, stop_file=stop_file)
