"""The trade and order-book generators over ZeroMQ: the simulator's records on a PUB socket.

Each generator binds its stream's endpoint (XPUB), waits up to
`ZmqSettings.subscriber_wait_s` for the stream's expected subscribers (a pipeline started
consumers-first loses nothing), then sends on the absolute schedule start + n / rate
(rate 0 / "max": as fast as it can). Every message carries this process's producer id and
its sequence number; `produced` is what was handed to ZeroMQ, not what arrived: a PUB
socket drops for a subscriber whose queue is full or who is not connected, and only
that consumer's gap count shows it.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Sequence

from kafkalab.config import LabConfig
from kafkalab.core.market import MarketSimulator, parse_symbols, run_trade_id_base
from kafkalab.core.models import OrderBook, Trade, now_us
from kafkalab.core.pacing import Pacer, parse_rate
from kafkalab.runtime.loop import Component
from kafkalab.core.streams import ORDERBOOKS, TRADES
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.addresses import SUBSCRIBERS, ZmqSettings, settings_of
from kafkalab.transports.zeromq.streams import StreamPublisher, producer_id


class _ZmqGenerator(Component):
    counter_names = ("produced", "subscribers", "rate_hz")
    message_counter = "produced"
    stream = TRADES
    default_rate_hz = 10.0

    def __init__(self, config: LabConfig, *, rate_hz: float | str | None = None,
                 symbols: str | Sequence[str] | None = None, seed: int = 7, instance: str = "0",
                 zmq_settings: ZmqSettings | None = None, subscribers: int | None = None) -> None:
        super().__init__()
        # How many consumers to wait for at start (the pipeline's readers of this stream by default).
        self.expected_subscribers = SUBSCRIBERS[self.stream] if subscribers is None else int(subscribers)
        self.settings = zmq_settings or settings_of(config)
        self.rate_hz = parse_rate(rate_hz, self.default_rate_hz)
        self.sim = MarketSimulator(parse_symbols(symbols), seed, trade_id_base=run_trade_id_base(now_us()))
        self.fmt = config.serializer_for(self.stream)
        self.instance = str(instance)
        self.publisher: StreamPublisher | None = None
        self.pacer = Pacer(self.rate_hz)
        self._rate_window = (0.0, 0)

    def make_record(self, event_ts_us: int):  # pragma: no cover - overridden
        raise NotImplementedError

    def setup(self, stack: ExitStack) -> None:
        ctx = stack.enter_context(sockets.context())
        sock = stack.enter_context(sockets.publisher(ctx, self.settings.bind_address(self.stream), self.settings.hwm))
        self.publisher = StreamPublisher(sock, self.stream, producer_id(self.name, self.instance), self.fmt)
        self.sim.warm_up(now_us())
        expected = self.expected_subscribers
        if not self.publisher.wait_for_subscribers(expected, self.settings.subscriber_wait_s,
                                                   lambda: self.stop_requested):
            self.log.warning(f"{self.publisher.subscribers} of {expected} consumers subscribed after "
                             f"{self.settings.subscriber_wait_s:g} s; sending anyway (late joiners count what they "
                             f"missed as gaps)")
        self.pacer.start()
        self._rate_window = (time.monotonic(), 0)

    def step(self) -> None:
        due = self.pacer.due()
        left = self.messages_left()
        if left is not None:
            due = min(due, left)
        if due == 0:
            self.wait(min(self.pacer.seconds_until_due(), 0.1))
        else:
            send, make = self.publisher.send, self.make_record
            for _ in range(due):
                send(make(now_us()))
            self.pacer.sent(due)
            self.counters.add("produced", due)
        self._publish_counters()

    def _publish_counters(self) -> None:
        start, produced_then = self._rate_window
        now = time.monotonic()
        if now - start >= 1.0:
            produced = self.counters["produced"]
            self.counters.set("rate_hz", int((produced - produced_then) / (now - start)))
            self.counters.set("subscribers", self.publisher.poll_subscriptions())
            self._rate_window = (now, produced)

    @property
    def reached_rate_hz(self) -> float:
        return self.counters["produced"] / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        target = f"{self.rate_hz:g}/s" if self.rate_hz else "max"
        return (f"{self.name}: {self.counters!r}; producer {self.publisher.producer if self.publisher else '-'}; "
                f"target {target}, sent {self.reached_rate_hz:,.1f} records/s (at-most-once: consumers count gaps)")


class ZmqTradeGenerator(_ZmqGenerator):
    name = "trade-generator"
    stream = TRADES
    default_rate_hz = 10.0

    def make_record(self, event_ts_us: int) -> Trade:
        return self.sim.next_trade(event_ts_us, now_us())


class ZmqOrderBookGenerator(_ZmqGenerator):
    name = "orderbook-generator"
    stream = ORDERBOOKS
    default_rate_hz = 4.0

    def make_record(self, event_ts_us: int) -> OrderBook:
        return replace(self.sim.next_book(event_ts_us), produced_ts_us=now_us())
