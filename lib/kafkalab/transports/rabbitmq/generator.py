"""The two generators over RabbitMQ: simulated trades and order books into `lab.feeds`.

Publisher confirms are asynchronous (up to WINDOW messages in flight). A publish stays in
`pending` until the broker confirms it; when the connection drops (a node killed), the
generator reconnects to another node and publishes every pending message again, so nothing
is lost and a consumer may see a record twice (the sinks and the processor drop repeats by
key). A nack (the queue has no quorum) ends the run with one line: refused, not lost.

Trade ids are unique across runs: each run adds its start time (ms) * 10^6 to the
simulator's per-symbol count, so a second run never reuses a key already in trades.csv.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from kafkalab.config import LabConfig
from kafkalab.core import serde
from kafkalab.core.market import MarketSimulator, parse_symbols, run_trade_id_base
from kafkalab.core.models import now_us
from kafkalab.core.pacing import Pacer
from kafkalab.core.streams import ORDERBOOKS, TRADES
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.rabbitmq.clients import ConnectionLost, PublishRefused, Session
from kafkalab.transports.rabbitmq.topology import FEEDS_EXCHANGE, SYMBOL_HEADER, routing_key

WINDOW = 1000  # unconfirmed publishes in flight
REFUSED_GRACE_S = 10.0  # nacks for longer than this: the queue has lost its quorum (not a leader election)
# A channel opened while a queue's old leader was still on record can keep nacking after the
# new leader is elected (seen after kill -9 of the leaders' node): past this, a fresh channel.
FRESH_CHANNEL_AFTER_S = 1.0
FLUSH_TIMEOUT_S = 30.0
RECONNECTS = 10  # lost connections a run survives


class RabbitGenerator(Component):
    counter_names = ("sent", "acked", "republished", "reconnects")
    message_counter = "acked"
    stream = ""
    default_rate_hz = 10.0

    def __init__(self, config: LabConfig, params: ComponentParams, urls) -> None:
        super().__init__()
        self.config, self.params, self.urls = config, params, tuple(urls)
        self.simulator = MarketSimulator(parse_symbols(params.symbols or None), seed=params.seed,
                                         trade_id_base=run_trade_id_base(now_us()))
        self.rate_hz = self.default_rate_hz if params.rate_hz is None else params.rate_hz
        self.format = serde.check_format(config.serializer_for(self.stream) if not params.serializer
                                         else params.serializer)
        self.pacer = Pacer(self.rate_hz)
        self.session: Session | None = None
        self.pending: dict[int, tuple[str, bytes, dict]] = {}
        self.exchange = FEEDS_EXCHANGE

    def make_record(self, event_ts_us: int):  # pragma: no cover - overridden
        raise NotImplementedError

    def setup(self, stack: ExitStack) -> None:
        self.session = Session(self.name).open(self.urls)
        stack.callback(lambda: self.session.close())
        # The day's price paths take seconds to compute on a busy machine: before the pacing
        # starts, or the first step runs late and the schedule re-anchors (a lost second).
        self.simulator.warm_up(now_us())
        self.pacer.start()

    refused_since: float | None = None  # when the broker began refusing (None: it is not)
    session_opened = 0.0  # monotonic time of the last (re)connect

    def step(self) -> None:
        try:
            self._publish_due()
            wait = min(self.pacer.seconds_until_due(), 0.2) if self.rate_hz else 0.0
            self.session.pump(wait, until=lambda: self.session.in_flight < WINDOW // 2 and self.pacer.due() > 0)
            self._note_confirmed()
            self.refused_since = None
        except ConnectionLost as exc:
            self._reconnect(exc)
        except PublishRefused as exc:
            self._retry_refused(exc)

    def _retry_refused(self, refused: PublishRefused) -> None:
        """A nack right after a node is lost comes from a queue electing its new leader: publish
        the refused records again; only refusals that last REFUSED_GRACE_S mean a lost quorum."""
        now = time.monotonic()
        self.refused_since = self.refused_since or now
        if now - self.refused_since > REFUSED_GRACE_S:
            raise refused
        self.wait(0.2)
        if now - max(self.refused_since, self.session_opened) > FRESH_CHANNEL_AFTER_S:
            self._open_session(f"nacks for {now - self.refused_since:.1f} s; a fresh channel")
            return
        for sequence in refused.sequences:
            key, body, headers = self.pending.pop(sequence)
            self.pending[self.session.publish(self.exchange, key, body, headers)] = (key, body, headers)
            self.counters.add("republished")

    def _publish_due(self) -> None:
        due = min(self.pacer.due(), WINDOW - self.session.in_flight)
        left = self.messages_left()
        if left is not None:
            due = min(due, max(0, left - len(self.pending)))
        for _ in range(max(0, due)):
            ts = now_us()
            record = self.make_record(ts)
            body, headers = serde.encode(record, self.format)
            amqp_headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers}
            amqp_headers[SYMBOL_HEADER] = record.symbol
            key = routing_key(self.stream, record.symbol)
            self.pending[self.session.publish(self.exchange, key, body, amqp_headers)] = (key, body, amqp_headers)
        self.pacer.sent(max(0, due))
        self.counters.add("sent", max(0, due))

    def _note_confirmed(self) -> None:
        for sequence in self.session.confirmed():
            self.pending.pop(sequence, None)
            self.counters.add("acked")

    def _reconnect(self, reason: Exception) -> None:
        if self.counters["reconnects"] >= RECONNECTS:
            raise reason
        self.counters.add("reconnects")
        self._open_session(reason)

    def _open_session(self, reason) -> None:
        """Close the session, open a new one (any node that answers), publish every unconfirmed again."""
        self.log.warning(f"{reason}; reconnecting and publishing {len(self.pending)} unconfirmed again")
        self.session.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.session = Session(self.name).open(self.urls)
                self.session_opened = time.monotonic()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.wait(1.0)
        again, self.pending = self.pending, {}
        for key, body, headers in again.values():
            self.pending[self.session.publish(self.exchange, key, body, headers)] = (key, body, headers)
        self.counters.add("republished", len(again))

    def finish(self) -> None:
        self.session.flush(FLUSH_TIMEOUT_S)
        self._note_confirmed()

    def summary(self) -> str:
        rate = self.counters["acked"] / self.elapsed_s if self.elapsed_s else 0.0
        return f"{self.name}: {self.counters!r} ({rate:.1f} confirmed records/s)"


class TradeGenerator(RabbitGenerator):
    name = "trade-generator"
    stream = TRADES
    default_rate_hz = 10.0

    def make_record(self, event_ts_us: int):
        return self.simulator.next_trade(event_ts_us, produced_ts_us=now_us())


class OrderBookGenerator(RabbitGenerator):
    name = "orderbook-generator"
    stream = ORDERBOOKS
    default_rate_hz = 4.0

    def make_record(self, event_ts_us: int):
        return self.simulator.next_book(event_ts_us, produced_ts_us=now_us())
