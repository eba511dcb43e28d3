"""The market processor over ZeroMQ: trades + order books in, candles + book features out.

A SUB socket connected to `trades` and `orderbooks`; the windows are the core's
(kafkalab.core.windowing: 1 s tumbling event-time windows, watermark = max event time -
500 ms, idle rule 2 s), kept per (stream, producer): one producer's messages arrive in
the order it sent them, as a Kafka partition's do, and its sequence number plays the
offset. Closed windows go out on two XPUB sockets it binds, `candles` and
`book-features`, numbered like every ZeroMQ message.

At-most-once, and honest about it: the windows live in memory only (a killed processor
loses its open windows), and a window that a sequence gap may have touched - the
windows from the last record before the gap through the one after it, for every symbol -
is not emitted as if complete: it is dropped and counted in `incomplete_windows` (its
records in `discarded`). Records of a window already closed are late: dropped with a
one-line reason.

Restart: before it sends closed windows, the processor writes per input producer the
sequence through which every record is in an emitted window (the oldest open window's
first record - 1) to results/data/zeromq_processor-<instance>.json. A restarted processor
resumes its gap count there, so gaps + discarded is exactly the trades no candle holds.
(A kill between that write and the send loses the windows without counting them: a
microsecond-wide race against a second-long step.)
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.core.models import OrderBook, Trade, now_us
from kafkalab.core.sequence import Verdict
from kafkalab.core.windowing import NEVER, BookFeaturesBuilder, CandleBuilder, Outcome, PartitionWindows, WindowSpec
from kafkalab.runtime.loop import Component
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.addresses import ZmqSettings, settings_of
from kafkalab.transports.zeromq.inbox import COUNTERS, Inbox, Received
from kafkalab.transports.zeromq.stats import append_stats
from kafkalab.transports.zeromq.streams import StreamPublisher, producer_id, receive_batch

_LOG = logging.getLogger(__name__)
POLL_TIMEOUT_S = 0.1
MAX_BATCH = 5000
OUTPUT_OF = {TRADES: CANDLES, ORDERBOOKS: BOOK_FEATURES}
BUILDER_OF = {TRADES: CandleBuilder, ORDERBOOKS: BookFeaturesBuilder}
COUNTER_OF = {TRADES: ("trades", "candles"), ORDERBOOKS: ("books", "book_features")}


class ProducerWindows:
    """The open windows of one input producer, and the window starts a gap made unsure."""

    def __init__(self, stream: str, spec: WindowSpec) -> None:
        self.windows = PartitionWindows(BUILDER_OF[stream], spec)
        self.unsure: list[tuple[int, int]] = []  # [first start, last start] ranges
        self.discarded = 0  # records in windows not emitted because a gap touched them

    def resume_sequence(self) -> int:
        """Every record up to this sequence is in an emitted window (or was dropped)."""
        return self.windows.resume_offset() - 1

    def mark_gap(self, event_ts_us: int) -> None:
        spec, before = self.windows.spec, self.windows.max_event_us
        low = NEVER if before == NEVER else spec.start_of(before)
        self.unsure.append((low, spec.start_of(event_ts_us)))

    def is_complete(self, start_us: int) -> bool:
        return not any(low <= start_us <= high for low, high in self.unsure)


class ResumeState:
    """Per input (stream, producer): the sequence a restart resumes its gap count after."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[tuple[str, str], int]:
        try:
            saved = json.loads(self.path.read_text())
            return {tuple(key.split("|", 1)): int(sequence) for key, sequence in saved.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            _LOG.warning("%s unreadable (%s); counting gaps from each producer's first message", self.path, exc)
            return {}

    def save(self, positions: dict[tuple[str, str], int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({f"{stream}|{producer}": seq for (stream, producer), seq in positions.items()}))
        tmp.replace(self.path)


class ZmqMarketProcessor(Component):
    name = "market-processor"
    counter_names = (*COUNTERS, "trades", "books", "late", "candles", "book_features", "incomplete_windows",
                     "subscribers")
    message_counter = "received"

    def __init__(self, config: LabConfig, *, instance: str = "0", zmq_settings: ZmqSettings | None = None,
                 allowed_lateness_ms: int = 500, idle_timeout_ms: int = 2000) -> None:
        super().__init__()
        self.config = config
        self.settings = zmq_settings or settings_of(config)
        self.instance = str(instance)
        self.spec = WindowSpec(allowed_lateness_us=int(allowed_lateness_ms) * 1000,
                               idle_timeout_us=int(idle_timeout_ms) * 1000)
        self.inbox = Inbox(self.name, self.counters, {TRADES: Trade, ORDERBOOKS: OrderBook})
        self.producers: dict[tuple[str, str], ProducerWindows] = {}
        self.state = ResumeState(config.data_dir / f"zeromq_processor-{self.instance}.json")
        self.publishers: dict[str, StreamPublisher] = {}
        self.sock = None

    def setup(self, stack: ExitStack) -> None:
        stack.callback(self._write_stats)
        ctx = stack.enter_context(sockets.context())
        me = producer_id(self.name, self.instance)
        for stream in (CANDLES, BOOK_FEATURES):
            out = stack.enter_context(sockets.publisher(ctx, self.settings.bind_address(stream), self.settings.hwm))
            self.publishers[stream] = StreamPublisher(out, stream, me, self.config.serializer_for(stream))
        inputs = [self.settings.connect_address(s) for s in (TRADES, ORDERBOOKS)]
        self.sock = stack.enter_context(sockets.subscriber(ctx, inputs, [TRADES, ORDERBOOKS], self.settings.hwm))
        for key, sequence in self.state.load().items():
            self.inbox.tracker.resume(key, sequence)

    def step(self) -> None:
        now = now_us()
        for frame in receive_batch(self.sock, POLL_TIMEOUT_S, MAX_BATCH):
            got = self.inbox.accept(frame)
            if got is not None:
                self._add(got, now)
        self._emit_closed(now_us())

    def finish(self) -> None:
        self._emit_closed(now_us())

    def _add(self, got: Received, now: int) -> None:
        stream, record = got.envelope.stream, got.record
        key = (stream, got.envelope.producer)
        part = self.producers.get(key)
        if part is None:
            part = self.producers[key] = ProducerWindows(stream, self.spec)
        if got.verdict is Verdict.AFTER_GAP:
            part.mark_gap(record.event_ts_us)
        outcome = part.windows.add(record.symbol, record.event_ts_us, got.envelope.sequence, record, now)
        if outcome is Outcome.ADDED:
            self.counters.add(COUNTER_OF[stream][0])
            return
        self.counters.add("late")
        start = self.spec.start_of(record.event_ts_us)
        self.inbox.drop(f"{stream} {got.envelope.position}: late: event time {record.event_ts_us} us is in window "
                        f"[{start}, {start + self.spec.size_us}) of {record.symbol}, closed at watermark "
                        f"{part.windows.closed_through_us} us")

    def _emit_closed(self, now: int) -> None:
        ready = []
        for key, part in self.producers.items():
            part.windows.close_idle(now)
            ready.extend((key[0], part, window) for window in part.windows.take_ready())
        if not ready:
            return
        self.state.save({key: part.resume_sequence() for key, part in self.producers.items()})
        for stream, part, window in ready:
            if not part.is_complete(window.start_us):
                self.counters.add("incomplete_windows")
                part.discarded += window.builder.count
                continue
            self.publishers[OUTPUT_OF[stream]].send(window.result(now_us()))
            self.counters.add(COUNTER_OF[stream][1])
        self.counters.set("subscribers", min(p.poll_subscriptions() for p in self.publishers.values()))

    def _write_stats(self) -> None:
        append_stats(self.config.data_dir, self.name, self.inbox.tracker, self.counters["dropped"],
                     {key: part.discarded for key, part in self.producers.items()})

    def summary(self) -> str:
        return f"{self.name}: {self.counters!r}; {self.inbox.summary()}"
