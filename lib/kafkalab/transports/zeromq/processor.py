"""The market processor over ZeroMQ: trades + order books in, candles + book features out.

A SUB socket connected to `trades` and `orderbooks`; what to do with each record is the
core's kafkalab.core.market_logic (1 s tumbling event-time windows, watermark = max event
time - 500 ms, idle rule 2 s, the late rule), with one input partition per (stream,
producer): one producer's messages arrive in the order it sent them, as a Kafka
partition's do, and its sequence number plays the offset. Closed windows go out on two XPUB sockets it binds, `candles` and
`book-features`, numbered like every ZeroMQ message.

At-most-once, and honest about it: the windows live in memory only (a killed processor
loses its open windows), and a window that a sequence gap may have touched - the
windows from the last record before the gap through the one after it, for every symbol -
is not emitted as if complete: it is dropped and counted in `incomplete_windows` (its
records in `discarded`). Records of a window already closed are late: dropped with a
one-line reason.

Restart: before it sends closed windows, the processor writes per input producer the
sequence through which every record is in an emitted window (the oldest open window's
first record - 1) to results/data/.state/zeromq-processor-<instance>.json. A restarted processor
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
from kafkalab.core.csvstore.files import STATE_DIR
from kafkalab.core.market_logic import MarketLogic, Output, Verdict as Decided
from kafkalab.core.models import Candle, InvalidMessage, OrderBook, Trade, now_us
from kafkalab.core.sequence import Verdict
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES
from kafkalab.core.windowing import NEVER, WindowSpec
from kafkalab.runtime.loop import Component
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.addresses import ZmqSettings, settings_of
from kafkalab.transports.zeromq.inbox import COUNTERS, Inbox, Received
from kafkalab.transports.zeromq.stats import append_stats
from kafkalab.transports.zeromq.streams import StreamPublisher, producer_id, receive_batch

_LOG = logging.getLogger(__name__)
POLL_TIMEOUT_S = 0.1
MAX_BATCH = 5000
INPUT_COUNTER = {TRADES: "trades", ORDERBOOKS: "books"}
OUTPUT_COUNTER = {CANDLES: "candles", BOOK_FEATURES: "book_features"}
Key = tuple[str, str]  # (input stream, producer id): one ordered input, like a Kafka partition


class GapMarks:
    """The window starts a sequence gap of one input producer made unsure."""

    def __init__(self) -> None:
        self.unsure: list[tuple[int, int]] = []  # [first start, last start] ranges
        self.discarded = 0  # records in windows not emitted because a gap touched them

    def mark(self, spec: WindowSpec, last_event_us: int, event_ts_us: int) -> None:
        low = NEVER if last_event_us == NEVER else spec.start_of(last_event_us)
        self.unsure.append((low, spec.start_of(event_ts_us)))

    def is_complete(self, start_us: int) -> bool:
        return not any(low <= start_us <= high for low, high in self.unsure)


class ResumeState:
    """Per input (stream, producer): the sequence a restart resumes its gap count after."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[Key, int]:
        try:
            saved = json.loads(self.path.read_text())
            return {tuple(key.split("|", 1)): int(sequence) for key, sequence in saved.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            _LOG.warning("%s unreadable (%s); counting gaps from each producer's first message", self.path, exc)
            return {}

    def save(self, positions: dict[Key, int]) -> None:
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
        self.logic = MarketLogic(WindowSpec(allowed_lateness_us=int(allowed_lateness_ms) * 1000,
                                            idle_timeout_us=int(idle_timeout_ms) * 1000))
        self.spec = self.logic.spec
        self.inbox = Inbox(self.name, self.counters, {TRADES: Trade, ORDERBOOKS: OrderBook})
        self.gaps: dict[Key, GapMarks] = {}
        self.publishers: dict[str, StreamPublisher] = {}
        self.state = ResumeState(config.data_dir / STATE_DIR / f"zeromq-processor-{self.instance}.json")
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
        for frame in receive_batch(self.sock, POLL_TIMEOUT_S, MAX_BATCH):
            got = self.inbox.accept(frame)
            if got is not None:
                self._add(got, now_us())
        self._emit_closed(now_us())

    def finish(self) -> None:
        self._emit_closed(now_us())

    def _add(self, got: Received, now: int) -> None:
        stream, record, sequence = got.envelope.stream, got.record, got.envelope.sequence
        key = (stream, got.envelope.producer)
        if key not in self.logic.partitions:
            self.logic.open(key, stream)
            self.gaps[key] = GapMarks()
        try:
            self.logic.validate(stream, record, now, stamp="the time it arrived")
        except InvalidMessage as exc:
            self.logic.handle_invalid(key, sequence, str(exc), now)
            self.inbox.drop(f"{stream} {got.envelope.position}: {exc}")
            return
        if got.verdict is Verdict.AFTER_GAP:
            self.gaps[key].mark(self.spec, self.logic.partitions[key].max_event_us, record.event_ts_us)
        decision = self.logic.handle(key, sequence, record, now)
        if decision.verdict is Decided.ADDED:
            self.counters.add(INPUT_COUNTER[stream])
        elif decision.verdict is Decided.LATE:
            self.counters.add("late")
            self.inbox.drop(f"{stream} {got.envelope.position}: {decision.reason}")

    def _emit_closed(self, now: int) -> None:
        self.logic.close_idle(now, lambda key, part: True)  # a socket has no "end" to be behind
        outputs = self.logic.take_outputs(now_us())
        if outputs:
            # Stored before the send: a restart counts from here, never twice (see the docstring).
            self.state.save({key: self.logic.resume_state(key)[0] - 1 for key in self.logic.partitions})
            for output in outputs:
                self._send(output)
        self.counters.set("subscribers", min(p.poll_subscriptions() for p in self.publishers.values()))

    def _send(self, output: Output) -> None:
        marks, result = self.gaps[output.source], output.record
        if not marks.is_complete(result.window_start_us):
            self.counters.add("incomplete_windows")
            marks.discarded += result.trade_count if isinstance(result, Candle) else result.snapshot_count
            return
        self.publishers[output.stream].send(result)
        self.counters.add(OUTPUT_COUNTER[output.stream])

    def _write_stats(self) -> None:
        append_stats(self.config.data_dir, self.name, self.inbox.tracker, self.counters["dropped"],
                     {key: marks.discarded for key, marks in self.gaps.items()})

    def summary(self) -> str:
        return f"{self.name}: {self.counters!r}; {self.inbox.summary()}"
