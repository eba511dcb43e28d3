"""What `kafkalab profile` runs: one component of one transport, on inputs of its own.

Each run gets fresh topics (deleted afterwards), a fresh consumer group and a fresh data
folder, so no run sees another run's records (the "known state" of every benchmark here).

The workload of a component at a given offered rate:
- generators: rate 0 ("max") produces as fast as the producer goes, a positive rate is the
  generator's own pacing (records/s); either way for the run's seconds.
- consumers (the processor, the sinks): rate 0 = saturation: a backlog of `records` is
  written before the run and the component drains it (the run ends when it has read all
  of it); a positive rate = a feeder thread in this process writes records at that rate
  for the whole run (cProfile ignores that thread; py-spy shows it under its name).
- The processor's input is the simulator's trades with one order-book snapshot per
  BOOK_EVERY trades, TRADES_PER_EVENT_SECOND records per event-time second (fewer for a
  backlog too small to span MIN_EVENT_SPAN_S), so that 1 s windows close as it is drained. The candles sink reads candles and book
  features in turn.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from kafkalab.config import LabConfig
from kafkalab.core import serde
from kafkalab.core.models import BookFeatures, Candle, Record, now_us
from kafkalab.errors import ConfigError
from kafkalab.runtime import params
from kafkalab.runtime.loop import Bounds, Component

TRANSPORTS = ("kafka",)  # transports whose components can be profiled (rabbitmq, zeromq: later)
COMPONENTS = params.COMPONENTS  # trade-generator, orderbook-generator, market-processor, trades-sink, candles-sink
CONSUMERS = ("market-processor", "trades-sink", "candles-sink")
BOOK_EVERY = 10
TRADES_PER_EVENT_SECOND = 2000
MIN_EVENT_SPAN_S = 5.0
FEEDER_BATCH_S = 0.05  # the feeder produces what is due every 50 ms


@dataclass(frozen=True)
class Workload:
    """One cell of a profile: which component, at which offered rate, in which format."""

    transport: str
    component: str
    rate_hz: float  # 0 = saturation
    serializer: str
    records: int  # the backlog a consumer drains at saturation
    seconds: float  # every run stops after this long at the latest

    @property
    def label(self) -> str:
        rate = "max" if not self.rate_hz else f"{self.rate_hz:g}Hz"
        return f"{self.component} {rate} {self.serializer}"

    def bounds(self) -> Bounds:
        """A consumer at saturation stops once it has read its backlog; everything else after
        `seconds` (a generator bounded by a count would mostly measure its final flush)."""
        drains = self.component in CONSUMERS and not self.rate_hz
        return Bounds(max_seconds=self.seconds, max_messages=self.records if drains else 0)


def check_workload(workload: Workload) -> None:
    """One clear line for a transport or component that cannot be profiled (yet)."""
    if workload.transport not in TRANSPORTS:
        raise ConfigError(f"transport {workload.transport!r} has no components to profile yet; "
                          f"choose one of: {', '.join(TRANSPORTS)}")
    if workload.component not in COMPONENTS:
        raise ConfigError(f"unknown component {workload.component!r}; choose one of: all, {', '.join(COMPONENTS)}")
    serde.check_format(workload.serializer)
    if workload.rate_hz < 0 or workload.records < 1 or workload.seconds <= 0:
        raise ConfigError(f"rate must be >= 0, records >= 1 and seconds > 0 (got {workload.rate_hz:g}, "
                          f"{workload.records}, {workload.seconds:g})")


# ---- input records ---------------------------------------------------------------------------

def market_records(component: str, seed: int = 7) -> Callable[[int], Record]:
    """A function event_ts_us -> the next input record of `component` (simulated, valid)."""
    from kafkalab.core.market import MarketSimulator

    sim = MarketSimulator(seed=seed)
    if component == "trades-sink":
        return lambda ts: sim.next_trade(ts, ts)
    if component == "candles-sink":
        return _derived_records()
    counter = iter(range(1 << 62))

    def trade_or_book(ts: int) -> Record:
        return sim.next_book(ts, ts) if next(counter) % BOOK_EVERY == BOOK_EVERY - 1 else sim.next_trade(ts, ts)

    return trade_or_book


def _derived_records() -> Callable[[int], Record]:
    """Candles and book features in turn, one window per symbol-second (what the processor emits)."""
    symbols = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA")
    counter = iter(range(1 << 62))

    def make(ts: int) -> Record:
        n = next(counter)
        symbol, start = symbols[(n // 2) % len(symbols)], ts - ts % 1_000_000
        price = 100.0 + (n % 97) * 0.01
        if n % 2:
            return BookFeatures(symbol, start, start + 1_000_000, price, 0.02, 0.1, 4, n, start + 1_000_000, ts)
        return Candle(symbol, start, start + 1_000_000, price, price + 0.05, price - 0.05, price + 0.01,
                      120.0, price, 12, start + 1_000_000, ts)

    return make


def input_topic_of(record: Record, topics: dict[str, str]) -> str:
    return topics[{"trade": "trades", "orderbook": "orderbooks", "candle": "candles",
                   "book_features": "book-features"}[record.TYPE]]


def fill_backlog(bootstrap: str, topics: dict[str, str], workload: Workload) -> int:
    """`records` input records in event-time order, ending a minute ago, written durably."""
    from kafkalab.bench.harness import fill_topic

    make = market_records(workload.component)
    # a small backlog still spans MIN_EVENT_SPAN_S of event time, so that windows close in it
    step_us = max(1_000_000 // TRADES_PER_EVENT_SECOND, int(MIN_EVENT_SPAN_S * 1e6) // workload.records)
    start = now_us() - 60_000_000 - workload.records * step_us
    by_topic: dict[str, tuple[list[bytes], list[bytes], list]] = {}
    for i in range(workload.records):
        record = make(start + i * step_us)
        payload, headers = serde.encode(record, workload.serializer)
        values, keys, header_list = by_topic.setdefault(input_topic_of(record, topics), ([], [], []))
        values.append(payload)
        keys.append(record.symbol.encode())
        header_list[:] = [headers]  # the same per (format, type)
    return sum(fill_topic(bootstrap, topic, values, keys, headers=headers[0])
               for topic, (values, keys, headers) in by_topic.items())


class Feeder(threading.Thread):
    """Writes live input records at `rate_hz` until stopped (for consumers at a low rate)."""

    def __init__(self, bootstrap: str, topics: dict[str, str], workload: Workload) -> None:
        super().__init__(name="profile-feeder", daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
        self.topics, self.workload = topics, workload
        self.make = market_records(workload.component)
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        started = time.monotonic()
        while not self.halt.wait(FEEDER_BATCH_S):
            due = int((time.monotonic() - started) * self.workload.rate_hz) - self.sent
            for _ in range(max(0, due)):
                ts = now_us()
                record = self.make(ts)
                payload, headers = serde.encode(record, self.workload.serializer)
                self.producer.produce(input_topic_of(record, self.topics), payload, record.symbol.encode(),
                                      headers=headers)
                self.sent += 1
            self.producer.poll(0)
        self.producer.flush(30)

    def stop(self) -> None:
        self.halt.set()
        self.join(60)


# ---- the component on its own topics -----------------------------------------------------------

ROLES = {
    "trade-generator": ("trades",),
    "orderbook-generator": ("orderbooks",),
    "market-processor": ("trades", "orderbooks", "candles", "book-features", "dead-letters"),
    "trades-sink": ("trades", "dead-letters"),
    "candles-sink": ("candles", "book-features", "dead-letters"),
}


def _build(config: LabConfig, workload: Workload, topics: dict[str, str], data_dir: Path) -> Component:
    from kafkalab.transports.kafka.generator import OrderBookGenerator, TradeGenerator
    from kafkalab.transports.kafka.processor import MarketProcessor, Topics
    from kafkalab.core.csvstore import candles_targets
    from kafkalab.transports.kafka.sink import CandlesCsvSink, SinkSettings, TradesCsvSink, trades_target

    group = f"profile-{workload.component}-{uuid.uuid4().hex[:8]}"
    name, bootstrap = workload.component, config.bootstrap_servers
    rate = workload.rate_hz or "max"
    if name == "trade-generator":
        return TradeGenerator(config, rate_hz=rate, topic=topics["trades"])
    if name == "orderbook-generator":
        return OrderBookGenerator(config, rate_hz=rate, topic=topics["orderbooks"])
    if name == "market-processor":
        return MarketProcessor(config, group_id=group, topics=Topics(
            topics["trades"], topics["orderbooks"], topics["candles"], topics["book-features"],
            topics["dead-letters"]))
    if name == "trades-sink":
        return TradesCsvSink(SinkSettings(bootstrap, group, (trades_target(data_dir, topics["trades"]),),
                                          topics["dead-letters"]))
    targets = candles_targets(data_dir, topics["candles"], topics["book-features"])
    return CandlesCsvSink(SinkSettings(bootstrap, group, targets, topics["dead-letters"]))


@contextmanager
def prepared(config: LabConfig, workload: Workload, work_dir: Path) -> Iterator[Component]:
    """The component, its fresh topics and its input; topics, feeder and files removed after."""
    from kafkalab.bench.harness import fresh_topic, wait_for_ready

    check_workload(workload)
    config = config.with_overrides(serializer=workload.serializer)
    bootstrap = config.bootstrap_servers
    data_dir = work_dir / f"data-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        partitions = {"dead-letters": 1}
        topics = {role: stack.enter_context(fresh_topic(bootstrap, f"profile-{role}", partitions.get(role, 3)))
                  for role in ROLES[workload.component]}
        for name in topics.values():
            wait_for_ready(bootstrap, name)
        if workload.component in CONSUMERS:
            if workload.rate_hz:
                feeder = Feeder(bootstrap, topics, workload)
                feeder.start()
                stack.callback(feeder.stop)
            else:
                fill_backlog(bootstrap, topics, workload)
        data_dir.mkdir(parents=True, exist_ok=True)
        yield _build(config, workload, topics, data_dir)
