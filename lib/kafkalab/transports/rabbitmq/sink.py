"""The CSV sinks over RabbitMQ: acknowledged = on disk, and no duplicate row.

A delivery is acked only after its row is written and fsynced (or, for a record that cannot
be read, after its dead letter is confirmed). At-least-once means a record can arrive twice
(a generator republished it after a lost connection, or this sink died between fsync and
ack), so each file keeps the set of keys it holds - trades by (symbol, trade_id), candles
and book features by (symbol, window_start_us), read back from the file at start - and a
row whose key is already there is acked and not written again.

Same schema as Kafka's files with the transport-neutral tail `written_ts_us, transport,
position`; `transport` is "rabbitmq" and `position` is empty: a delivery is acked, not stored.
"""

from __future__ import annotations

import csv
from contextlib import ExitStack
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.core import serde
from kafkalab.core.models import InvalidMessage, Record, now_us
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import ComponentParams
from kafkalab.core import csvstore
from kafkalab.core.csvstore import CsvAppender, SinkTarget, exclusive_writer, record_row, trades_target
from kafkalab.transports.rabbitmq.clients import ConnectionLost, Delivery, PublishRefused, Session
from kafkalab.transports.rabbitmq.deadletters import dead_letter
from kafkalab.transports.rabbitmq.topology import CONSUMER_QUEUES

TRANSPORT = "rabbitmq"
FLUSH_TIMEOUT_S = 30.0


class KeyedCsv:
    """One CSV file (repaired and headed by the core's appender) and the keys it holds."""

    def __init__(self, target: SinkTarget) -> None:
        self.target = target
        self.appender = CsvAppender(target.path, target.columns)
        with target.path.open(newline="") as f:
            self.keys = {tuple(row[k] for k in target.key_fields) for row in csv.DictReader(f)}

    def append(self, records: list[Record], written_ts_us: int) -> None:
        """Rows on disk (fsynced) when this returns."""
        if records:
            self.appender.append([record_row(r, self.target.columns, written_ts_us, TRANSPORT, "") for r in records])

    def close(self) -> None:
        self.appender.close()


class RabbitCsvSink(Component):
    counter_names = ("received", "written", "duplicates", "dead_lettered", "reconnects")
    message_counter = "written"

    def __init__(self, config: LabConfig, params: ComponentParams, urls, targets: list[SinkTarget]) -> None:
        super().__init__()
        self.urls, self.params = tuple(urls), params
        self.targets = {t.stream: t for t in targets}
        self.queues = CONSUMER_QUEUES[self.name]
        self.prefetch = max(100, params.max_batch)
        self.files: dict[str, KeyedCsv] = {}
        self.session: Session | None = None

    def setup(self, stack: ExitStack) -> None:
        for stream, target in self.targets.items():
            target.path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(exclusive_writer(target.path))
            self.files[stream] = KeyedCsv(target)
            stack.callback(self.files[stream].close)
        self._connect()
        stack.callback(lambda: self.session.close())

    def _connect(self) -> None:
        self.session = Session(self.name).open(self.urls)
        for queue in self.queues:
            self.session.consume(queue, self.prefetch)

    def step(self) -> None:
        try:
            self.session.pump_deliveries(0.2)
            self.store(self.session.deliveries())
        except (ConnectionLost, PublishRefused) as exc:
            # Unacked deliveries go back to the queue; the keys filter what was already written. A
            # refused dead letter (a queue electing a leader, or without quorum) is retried, paced.
            if isinstance(exc, PublishRefused):
                self.wait(1.0)
            self.log.warning(f"{exc}; reconnecting")
            self.counters.add("reconnects")
            self.session.close()
            self._connect()

    def finish(self) -> None:
        """Stop consuming and store what was already delivered: a stop leaves nothing for the next run
        that the queue had handed to this one."""
        try:
            self.session.stop_consuming(FLUSH_TIMEOUT_S)
            self.store(self.session.deliveries())
        except (ConnectionLost, PublishRefused) as exc:
            self.log.warning(f"{exc}; what was not acked goes back to the queue")

    def store(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        self.counters.add("received", len(deliveries))
        fresh: dict[str, list[Record]] = {stream: [] for stream in self.targets}
        for delivery in deliveries:
            stream = delivery.routing_key.split(".", 1)[0]
            try:
                record = serde.decode(delivery.body, list(delivery.headers.items()))
                target = self.targets.get(stream)
                if target is None or not isinstance(record, target.record_type):
                    raise InvalidMessage(f"a {type(record).__name__} has no place in {self.name} (stream {stream!r})")
            except InvalidMessage as exc:
                self._dead_letter(delivery, str(exc))
                continue
            key = target.key_text(record)
            if key in self.files[stream].keys:
                self.counters.add("duplicates")
                continue
            self.files[stream].keys.add(key)
            fresh[stream].append(record)
        written_ts = now_us()
        for stream, records in fresh.items():
            self.files[stream].append(records, written_ts)
            self.counters.add("written", len(records))
        if self.session.in_flight:
            self.session.flush(FLUSH_TIMEOUT_S)  # dead letters confirmed before their originals are acked
        self.session.ack(deliveries[-1].tag, multiple=True)

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        dead_letter(self.session, delivery, reason, self.name)
        self.counters.add("dead_lettered")


# A redelivery (an ack lost with its connection) brings a record the file may already hold.
TRADE_KEY = ("symbol", "trade_id")
WINDOW_KEY = ("symbol", "window_start_us")


def trades_targets(data_dir: Path) -> list[SinkTarget]:
    return [trades_target(data_dir, key_fields=TRADE_KEY)]


def candles_targets(data_dir: Path) -> list[SinkTarget]:
    return list(csvstore.candles_targets(data_dir, key_fields=WINDOW_KEY))


class TradesSink(RabbitCsvSink):
    name = "trades-sink"


class CandlesSink(RabbitCsvSink):
    name = "candles-sink"
