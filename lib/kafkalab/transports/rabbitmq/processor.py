"""The market processor over RabbitMQ: 1 s event-time windows per symbol, at-least-once.

A record is acked only once the candle (or book features) it went into is confirmed by the
broker, so the records of open windows stay unacked and the prefetch must hold them
(PREFETCH). If the processor dies, every unacked record is redelivered and its windows are
computed again; the candles sink keeps the first copy of a (symbol, window_start) key.
Repeats of a record (a generator republished it) are dropped by its id, inside a window and
for EMITTED_IDS_KEPT_S after it was emitted; any other record for an emitted window is late:
dead-lettered with the reason "late: ...", as on the Kafka path.

Ordering: instance k of n consumes shard queues k, k+n, ... (`instance` = "k/n"; any other
value, the default "0" included, = every shard); each shard queue has a single active consumer, so a symbol's records
arrive in order and a second copy of an instance is a standby (see topology.py).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from kafkalab.config import LabConfig
from kafkalab.core import serde
from kafkalab.core.models import InvalidMessage, OrderBook, Trade, now_us
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES
from kafkalab.core.windowing import BookFeaturesBuilder, CandleBuilder, WindowSpec
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.rabbitmq.clients import ConnectionLost, Delivery, PublishRefused, Session
from kafkalab.transports.rabbitmq.deadletters import dead_letter
from kafkalab.transports.rabbitmq.topology import (
    FEEDS_EXCHANGE, SYMBOL_HEADER, routing_key, shard_queue, shards_of)

EMITTED_IDS_KEPT_S = 60  # how long the record ids of an emitted window are kept to tell repeats from late records
PREFETCH = 20000  # unacked records held: every open window's, at up to ~10,000 records/s
OUTPUT = {TRADES: (CANDLES, CandleBuilder, Trade), ORDERBOOKS: (BOOK_FEATURES, BookFeaturesBuilder, OrderBook)}


@dataclass
class OpenWindow:
    builder: object
    tags: list[int] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)


def parse_instance(instance: str) -> tuple[int, int]:
    """"k/n" -> (k, n): instance k of n; anything else (a label such as "0") -> every shard."""
    text = str(instance or "0")
    if "/" not in text:
        return 0, 1
    index, _, count = text.partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        raise ConfigError(f"instance must be k/n with whole numbers, e.g. 0/2 (got {instance!r})") from None
    if not 0 <= k < n:
        raise ConfigError(f"instance k/n needs 0 <= k < n (got {instance!r})")
    return k, n


class MarketProcessor(Component):
    name = "market-processor"
    counter_names = ("received", "candles", "book_features", "acked", "late", "duplicates", "dead_lettered",
                     "reconnects")
    message_counter = "received"

    def __init__(self, config: LabConfig, params: ComponentParams, urls) -> None:
        super().__init__()
        self.urls = tuple(urls)
        self.format = params.serializer or config.serializer_for(CANDLES)
        self.spec = WindowSpec(allowed_lateness_us=params.allowed_lateness_ms * 1000,
                               idle_timeout_us=params.idle_timeout_ms * 1000)
        k, n = parse_instance(params.instance)
        self.queues = [shard_queue(s) for s in shards_of(k, n)]
        self.session: Session | None = None
        self._reset()

    def _reset(self) -> None:
        self.windows: dict[tuple[str, str, int], OpenWindow] = {}
        self.watermark: dict[tuple[str, str], int] = {}
        self.last_seen: dict[tuple[str, str], float] = {}
        self.closed_through: dict[tuple[str, str], int] = {}
        self.emitted_ids: dict[tuple[str, str, int], set[int]] = {}  # of windows emitted lately
        self.awaiting: dict[int, list[int]] = {}  # publish sequence -> delivery tags to ack once confirmed

    def setup(self, stack: ExitStack) -> None:
        self._connect()
        stack.callback(lambda: self.session.close())

    def _connect(self) -> None:
        self.session = Session(self.name).open(self.urls)
        for queue in self.queues:
            self.session.consume(queue, PREFETCH)

    def step(self) -> None:
        try:
            self.session.pump_deliveries(0.1)
            for delivery in self.session.deliveries():
                self.add(delivery)
            self.close_ready(time.monotonic())
            self.ack_confirmed()
        except (ConnectionLost, PublishRefused) as exc:
            if isinstance(exc, PublishRefused):  # a queue electing a leader, or without quorum: retry, paced
                self.wait(1.0)
            self.log.warning(f"{exc}; reconnecting (unacked records come again)")
            self.counters.add("reconnects")
            self.session.close()
            self._reset()
            self._connect()

    def add(self, delivery: Delivery) -> None:
        self.counters.add("received")
        stream = delivery.routing_key.split(".", 1)[0]
        try:
            record = serde.decode(delivery.body, list(delivery.headers.items()))
            if stream not in OUTPUT or not isinstance(record, OUTPUT[stream][2]):
                raise InvalidMessage(f"a {type(record).__name__} on stream {stream!r} is not processor input")
        except InvalidMessage as exc:
            self._dead_letter(delivery, str(exc))
            return
        series = (stream, record.symbol)
        start = self.spec.start_of(record.event_ts_us)
        record_id = record.trade_id if stream == TRADES else record.sequence
        if start < self.closed_through.get(series, 0):
            self._handle_late(delivery, (*series, start), record_id)
            return
        window = self.windows.get((*series, start))
        if window is None:
            window = self.windows[(*series, start)] = OpenWindow(OUTPUT[stream][1]())
        window.tags.append(delivery.tag)
        if record_id in window.ids:
            self.counters.add("duplicates")
        else:
            window.ids.add(record_id)
            window.builder.add(record)
        self.watermark[series] = max(self.watermark.get(series, 0), record.event_ts_us)
        self.last_seen[series] = time.monotonic()

    def _handle_late(self, delivery: Delivery, key: tuple[str, str, int], record_id: int) -> None:
        """A record for a window already emitted: a repeat of one it holds is dropped, anything else
        is late (dead-lettered with the reason: in the dead-letter queue, not silently gone)."""
        if record_id in self.emitted_ids.get(key, ()):
            self.counters.add("duplicates")
            self.session.ack(delivery.tag)
            return
        self.counters.add("late")
        self._dead_letter(delivery, f"late: its window [{key[2]}, {key[2] + self.spec.size_us}) us was "
                                    f"emitted (allowed lateness {self.spec.allowed_lateness_us // 1000} ms)")

    def close_ready(self, now: float) -> None:
        """Emit every window whose end plus lateness the series' watermark passed, or whose
        series went idle (no record for idle_timeout) once its end plus lateness is past."""
        lateness, idle_s = self.spec.allowed_lateness_us, self.spec.idle_timeout_us / 1e6
        wall_us = now_us()
        for key in sorted(self.windows, key=lambda k: k[2]):
            stream, symbol, start = key
            end = start + self.spec.size_us
            series = (stream, symbol)
            idle = now - self.last_seen.get(series, now) >= idle_s and wall_us >= end + lateness
            if self.watermark.get(series, 0) >= end + lateness or idle:
                self._emit(key, self.windows.pop(key))

    def _emit(self, key: tuple[str, str, int], window: OpenWindow) -> None:
        stream, symbol, start = key
        output = OUTPUT[stream][0]
        result = window.builder.result(symbol, start, start + self.spec.size_us, now_us())
        body, headers = serde.encode(result, self.format)
        amqp_headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers}
        amqp_headers[SYMBOL_HEADER] = symbol
        sequence = self.session.publish(FEEDS_EXCHANGE, routing_key(output, symbol), body, amqp_headers)
        self.awaiting[sequence] = window.tags
        self.closed_through[(stream, symbol)] = max(self.closed_through.get((stream, symbol), 0),
                                                    start + self.spec.size_us)
        self.emitted_ids[key] = window.ids
        # Windows are emitted oldest first (close_ready), so the oldest entries are at the front.
        horizon = start - EMITTED_IDS_KEPT_S * 1_000_000
        while self.emitted_ids and next(iter(self.emitted_ids))[2] < horizon:
            del self.emitted_ids[next(iter(self.emitted_ids))]
        self.counters.add("candles" if output == CANDLES else "book_features")

    def ack_confirmed(self) -> None:
        for sequence in self.session.confirmed():
            for tag in self.awaiting.pop(sequence, ()):
                self.session.ack(tag)
                self.counters.add("acked")

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        self.awaiting[dead_letter(self.session, delivery, reason, self.name)] = [delivery.tag]
        self.counters.add("dead_lettered")

    def finish(self) -> None:
        """Confirm and ack what was emitted; open windows stay unacked and come again next run."""
        self.session.flush(30.0)
        self.ack_confirmed()
