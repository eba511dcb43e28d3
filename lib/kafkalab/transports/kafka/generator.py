"""The two Kafka generator components (trades, order books) over the core market simulator.

`TradeGenerator` (default 10 trades/s in total) and `OrderBookGenerator` (default 4
snapshots/s) take their records from kafkalab.core.market.MarketSimulator and their pace
from kafkalab.core.pacing.Pacer, and produce keyed by symbol through `clients.producer`
(acks=all, idempotent). `acked` counts delivery reports without error; the summary reports
the rate reached (acked records per second). With `acked_csv` the trade generator
appends one row per acknowledged trade (ACKED_COLUMNS) - what the producer saw
acknowledged, for the reliability and end-to-end checks.
"""

from __future__ import annotations

import csv
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from confluent_kafka import KafkaError, Message, Producer

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.runtime.loop import Component
from kafkalab.config import LabConfig, parse_client_settings
from kafkalab.errors import ConfigError, LabError
from kafkalab.core.market import MarketSimulator, parse_symbols, run_trade_id_base
from kafkalab.core.models import OrderBook, Trade, now_us
from kafkalab.core.pacing import Pacer, parse_rate
from kafkalab.transports.kafka.topics import ORDERBOOKS, TRADES, TRANSPORT, position

# Below this rate a producer never fills a batch in linger.ms=5 (the default), it only
# waits: paced generators send at once (linger.ms=0). Measured (`bench pipeline`, 10
# trades/s): p50 3.3 ms / p99 13.7 ms with 0 against 9.9 / 50.9 ms with 5. Faster, the
# batching pays: at full speed linger.ms=0 halved the rate (`bench generator`, msgpack:
# 28,940 vs 54,258 trades/s median).
SEND_AT_ONCE_BELOW_HZ = 100.0


def rate_producer_defaults(rate_hz: float) -> dict:
    """Producer settings that suit a generator's rate (producer_settings still win)."""
    return {"linger.ms": 0} if 0 < rate_hz <= SEND_AT_ONCE_BELOW_HZ else {}



# ---- the Kafka components -----------------------------------------------------------------

# The same `transport, position` shape as the sink rows, so acknowledged and stored trades compare directly.
# acked_ts_us: when the delivery report arrived, so produce-to-ack latency can be read per partition.
ACKED_COLUMNS = ("symbol", "trade_id", "transport", "position", "event_ts_us", "produced_ts_us", "acked_ts_us")
ERROR_REPORT_EVERY_S = 5.0
STALL_REPORT_S = 5.0


class GeneratorError(LabError):
    """The producer hit an error it cannot recover from."""


class _Generator(Component):
    counter_names = ("produced", "acked", "failed", "rate_hz")
    message_counter = "produced"
    default_rate_hz = 10.0
    default_topic = TRADES

    def __init__(self, config: LabConfig, *, rate_hz: float | str | None = None, symbols: str | Sequence[str] | None = None,
                 seed: int = 7, topic: str = "", delivery_timeout_s: float = 0,
                 producer_overrides: Mapping[str, object] | str | None = None) -> None:
        super().__init__()
        self.config = config
        self.rate_hz = parse_rate(rate_hz, self.default_rate_hz)
        self.topic = topic or self.default_topic
        self.serializer = serde.check_format(config.serializer_for(self.topic))
        self.sim = MarketSimulator(parse_symbols(symbols), seed, trade_id_base=run_trade_id_base(now_us()))
        self.producer_overrides = parse_client_settings(producer_overrides)
        if delivery_timeout_s:  # how long the producer retries a record before reporting it failed
            self.producer_overrides["message.timeout.ms"] = int(float(delivery_timeout_s) * 1000)
        self.producer: Producer | None = None
        self.last_error = ""
        self._last_error_print = 0.0
        self.pacer = Pacer(self.rate_hz)
        self._rate_window = (0.0, 0)
        self._acked = self._failed = 0
        self._errors_only = False
        self._last_acked, self._ack_progress_at = 0, time.monotonic()
        self._keys = {symbol: symbol.encode() for symbol in self.sim.symbols}

    records_acks = False  # True: the delivery callback gets the record (on_acked)

    # -- records --------------------------------------------------------------
    def make_record(self, event_ts_us: int):  # pragma: no cover - overridden
        raise NotImplementedError

    def on_acked(self, record, msg: Message) -> None:
        """Hook for subclasses that record acknowledgements."""

    # -- lifecycle ------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        clients.require_reachable(self.config.bootstrap_servers)
        clients.require_topics(self.config.bootstrap_servers, [self.topic])
        self.producer = None
        self.sim.warm_up(now_us())
        settings = {"error_cb": self._on_client_error, **rate_producer_defaults(self.rate_hz),
                    **self.producer_overrides}
        self._acked = self._failed = 0
        # Tuning option: delivery reports for failures only (no Python callback per record).
        # Then acknowledged = produced - failed - still in the producer's queue (exact after flush).
        self._errors_only = str(settings.get("delivery.report.only.error", "")).lower() in ("true", "1")
        if self._errors_only and self.records_acks:
            raise ConfigError("acked_csv needs a delivery report per record; "
                              "do not combine it with delivery.report.only.error")
        stack.callback(self._publish)  # after the producer's final flush (the stack unwinds in reverse)
        self.producer = stack.enter_context(clients.producer(self.config.bootstrap_servers, **settings))
        self.pacer.start()
        self._rate_window = (time.monotonic(), 0)

    def step(self) -> None:
        due = self.pacer.due()
        if due == 0:
            self.producer.poll(0)
            self.wait(min(self.pacer.seconds_until_due(), 0.1))
            self._publish()
            return
        left = self.messages_left()
        if left is not None:
            due = min(due, left)
        produced = self._produce_batch(due)
        self.pacer.sent(produced)
        self.counters.add("produced", produced)
        self.producer.poll(0)
        self._publish()

    def _produce_batch(self, count: int) -> int:
        """Produce `count` records; fewer if a stop came while the local queue was full."""
        # The hot path of "as fast as it can go": local names, no per-record lock.
        produce, poll, make, encode = self.producer.produce, self.producer.poll, self.make_record, serde.encode
        topic, fmt, keys = self.topic, self.serializer, self._keys
        per_record = self.records_acks
        callback = self._on_delivery
        for done in range(count):
            record = make(now_us())
            payload, headers = encode(record, fmt)
            if per_record:
                callback = (lambda err, msg, rec=record: self._on_delivery(err, msg, rec))
            while True:
                try:
                    produce(topic, value=payload, key=keys[record.symbol], headers=headers, on_delivery=callback)
                    break
                except BufferError:  # local queue full (brokers slow or down): serve delivery reports, retry
                    poll(0.1)
                    if self.stop_requested:
                        return done  # never handed to Kafka, so nothing acknowledged is lost
        return count

    def _on_delivery(self, err: KafkaError | None, msg: Message, record=None) -> None:
        # Runs inside poll()/flush() on the loop's thread: plain ints, published by _publish().
        if err is None:
            self._acked += 1
            if record is not None:
                self.on_acked(record, msg)
            return
        self._failed += 1
        symbol = msg.key().decode(errors="replace") if msg.key() else "?"
        self._report_error(f"record for {symbol} not delivered: {err.name()}: {err.str()}")
        if err.fatal():
            raise GeneratorError(f"the producer failed for good ({err.str()}); restart the generator")

    def _publish(self) -> None:
        """Copy the delivery counts to the shared counters; refresh the live rate every second."""
        if self.producer is None:
            return
        if self._errors_only:
            self._acked = self.counters["produced"] - self._failed - len(self.producer)
        self.counters.set("acked", self._acked)
        self.counters.set("failed", self._failed)
        start, acked_then = self._rate_window
        now = time.monotonic()
        if now - start >= 1.0:
            self.counters.set("rate_hz", int((self._acked - acked_then) / (now - start)))
            self._rate_window = (now, self._acked)
            self._check_stalled(now)

    def _check_stalled(self, now: float) -> None:
        """Say so when records wait for acknowledgements (e.g. too few in-sync replicas):
        the producer keeps retrying them until delivery_timeout_s, nothing is dropped silently."""
        in_flight = len(self.producer) if self.producer is not None else 0
        if self._acked != self._last_acked or not in_flight:
            self._last_acked, self._ack_progress_at = self._acked, now
        elif now - self._ack_progress_at >= STALL_REPORT_S:
            # librdkafka retries NOT_ENOUGH_REPLICAS silently: ask the cluster, when the line will be printed
            why = (clients.not_enough_replicas(self.config.bootstrap_servers, self.topic)
                   if now - self._last_error_print >= ERROR_REPORT_EVERY_S else None)
            if why:
                self._report_error(f"{why}; no acknowledgement for {now - self._ack_progress_at:.0f} s, "
                                   f"{in_flight} records waiting, still retrying", remember=False)
                return
            self._report_error(f"no acknowledgement for {now - self._ack_progress_at:.0f} s, {in_flight} records "
                               f"waiting (brokers down or too few in-sync replicas?); still retrying"
                               + (f"; last error: {self.last_error}" if self.last_error else ""), remember=False)

    def _on_client_error(self, err: KafkaError) -> None:
        # Transient broker trouble: the producer retries by itself; say so, at most every few seconds.
        self._report_error(f"producer: {err.name()}: {err.str()}")

    def _report_error(self, text: str, remember: bool = True) -> None:
        if remember:
            self.last_error = text
        now = time.monotonic()
        if now - self._last_error_print >= ERROR_REPORT_EVERY_S:
            self._last_error_print = now
            self.log.warning(text)

    def finish(self) -> None:
        left = self.producer.flush(clients.FLUSH_TIMEOUT_S)
        self._publish()
        if left:
            raise GeneratorError(f"{left} records were not acknowledged within {clients.FLUSH_TIMEOUT_S:g} s; "
                                 f"is the cluster up? (`kafkalab cluster status`)")
        if self._failed and not self._acked:
            # Nothing got through: a run that delivered nothing must not end as a success.
            raise GeneratorError(f"every record failed ({self._failed} of {self.counters['produced']}); "
                                 f"last error: {self.last_error or 'none reported'}")

    @property
    def reached_rate_hz(self) -> float:
        """Acknowledged records per second over the whole run."""
        return self.counters["acked"] / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        target = f"{self.rate_hz:g}/s" if self.rate_hz else "max"
        return (f"{self.name}: {self.counters!r}; target {target}, reached {self.reached_rate_hz:,.1f} records/s"
                + (f"; last error: {self.last_error}" if self.last_error else ""))


class TradeGenerator(_Generator):
    name = "trade-generator"
    default_rate_hz = 10.0
    default_topic = TRADES

    def __init__(self, config: LabConfig, *, acked_csv: str | Path = "", **kwargs) -> None:
        super().__init__(config, **kwargs)
        # A relative path lands under results/data, next to the sinks' CSVs.
        self.acked_csv = config.data_dir / Path(acked_csv) if acked_csv else None
        self._acked_writer = None
        self._acked_file = None

    def make_record(self, event_ts_us: int) -> Trade:
        # produced_ts_us: the moment we hand the record to the producer (encode is next).
        return self.sim.next_trade(event_ts_us, now_us())

    def setup(self, stack: ExitStack) -> None:
        if self.acked_csv is not None:
            self._acked_file = stack.enter_context(_open_acked_csv(self.acked_csv))
            self._acked_writer = csv.writer(self._acked_file)
            # Registered after the file: on exit the producer is flushed first, so the last acks get written.
        super().setup(stack)

    @property
    def records_acks(self) -> bool:
        return self.acked_csv is not None

    def on_acked(self, trade: Trade, msg: Message) -> None:
        if self._acked_writer is not None:
            self._acked_writer.writerow((trade.symbol, trade.trade_id, TRANSPORT, position(msg.partition(), msg.offset()),
                                         trade.event_ts_us, trade.produced_ts_us, now_us()))

    def step(self) -> None:
        super().step()
        if self._acked_file is not None:
            self._acked_file.flush()


def _open_acked_csv(path: Path):
    """Append mode; header only for a new file. Rows are position-unique per topic."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        handle = path.open("a", newline="", buffering=1 << 16)
    except OSError as exc:
        raise ConfigError(f"cannot write the acknowledged-trades file {path} ({exc.strerror}); "
                          f"choose a writable path for acked_csv") from None
    if new:
        csv.writer(handle).writerow(ACKED_COLUMNS)
    return handle


class OrderBookGenerator(_Generator):
    name = "orderbook-generator"
    default_rate_hz = 4.0
    default_topic = ORDERBOOKS

    def make_record(self, event_ts_us: int) -> OrderBook:
        # Building a book takes a while: stamp produced_ts_us after it, right before encoding.
        return replace(self.sim.next_book(event_ts_us), produced_ts_us=now_us())
