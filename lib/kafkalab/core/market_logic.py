"""What the market processor decides per record, for every transport (no transport imported here).

Trades become 1 s candles and order books 1 s book features, in per-symbol event-time windows
(kafkalab.core.windowing) kept per *input partition*: whatever unit of input keeps a symbol's
records in order on a transport (a Kafka topic partition, a RabbitMQ queue, a ZeroMQ producer).
A partition is named by an opaque hashable key and carries integer positions ("offsets") that
only grow; the transport supplies them and stores whatever it needs to resume.

Per record `MarketLogic` decides:
- invalid (the wrong message type for its stream, or an event time too far ahead of the time
  the transport stamped it): a dead letter with the reason;
- added to its window; or late (its window is closed: a dead letter "late: ..."); or
  replayed (handled before a restart: skipped silently);
and per step which windows closed (`take_outputs`: the candles and book features to publish),
including the idle rule (`close_idle`: input stopped, so time moves on). The transport wraps
these decisions in its delivery guarantee (Kafka: one transaction per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Hashable, Iterable, Iterator

from kafkalab.core.models import InvalidMessage, OrderBook, Record, Trade
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, STREAM_TYPES, TRADES
from kafkalab.core.windowing import (NEVER, BookFeaturesBuilder, CandleBuilder, Outcome, PartitionWindows,
                                     WindowSpec)

# Input stream -> (its builder, the stream its results go to).
INPUTS = {TRADES: (CandleBuilder, CANDLES), ORDERBOOKS: (BookFeaturesBuilder, BOOK_FEATURES)}
DEFAULT_MAX_EVENT_AHEAD_US = 5_000_000


class Verdict(Enum):
    ADDED = "added"
    REPLAYED = "replayed"  # handled before a restart: skip silently
    DUPLICATE = "duplicate"  # the same record is in its window already: count it, skip it
    LATE = "late"  # its window is closed: count it, dead-letter it with the reason
    INVALID = "invalid"  # dead-letter it with the reason
    NOT_OURS = "not-ours"  # its partition is not assigned (any more): ignore it


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""  # why, for a dead letter


@dataclass(frozen=True)
class Output:
    """A closed window's result, ready to publish on `stream` (keyed by its symbol)."""

    stream: str
    record: Record
    source: Hashable  # the input partition it came from


def identity(record: Trade | OrderBook) -> tuple[int, int]:
    """What tells one record from a copy of it: its per-symbol id and the moment it was produced
    (ids restart with every generator run; the production time does not repeat)."""
    number = record.trade_id if isinstance(record, Trade) else record.sequence
    return number, record.produced_ts_us


class MarketLogic:
    """The windows of every assigned input partition, and the rules applied to each record."""

    def __init__(self, spec: WindowSpec = WindowSpec(), max_event_ahead_us: int = DEFAULT_MAX_EVENT_AHEAD_US) -> None:
        self.spec = spec
        self.max_event_ahead_us = int(max_event_ahead_us)
        self.partitions: dict[Hashable, PartitionWindows] = {}
        self.streams: dict[Hashable, str] = {}  # partition key -> its input stream

    # -- partitions ------------------------------------------------------------------
    def open(self, key: Hashable, stream: str, closed_through_us: int = NEVER, replay_until: int = -1,
             offset: int = -1) -> PartitionWindows:
        """Start (or restart, from what the transport stored) the windows of one input partition.

        `offset` is where reading resumes (-1: unknown, from the beginning); `closed_through_us`
        and `replay_until` are what `resume_state` returned when the transport last stored it."""
        if stream not in INPUTS:
            raise ValueError(f"{stream!r} is not an input stream of the market processor ({', '.join(INPUTS)})")
        builder, _ = INPUTS[stream]
        part = PartitionWindows(builder, self.spec, closed_through_us, replay_until)
        part.next_offset = part.restored_offset = offset if offset >= 0 else -1
        self.partitions[key] = part
        self.streams[key] = stream
        return part

    def drop(self, key: Hashable) -> None:
        """Forget a partition taken away (a rebalance): its open windows are rebuilt by whoever gets it."""
        self.partitions.pop(key, None)
        self.streams.pop(key, None)

    def clear(self) -> None:
        self.partitions.clear()
        self.streams.clear()

    def resume_state(self, key: Hashable) -> tuple[int, int, int]:
        """(offset to resume from, closed_through_us, replay_until) to store for a partition.

        The offset is that of the oldest record still in an open window (or the next one when
        none is open), so a restart replays exactly what the open windows need; with the other
        two a restarted processor skips the replayed records of windows it already closed."""
        part = self.partitions[key]
        return part.resume_offset(), part.closed_through_us, max(part.replay_until, part.next_offset)

    # -- records ---------------------------------------------------------------------
    def validate(self, stream: str, record: Record, stamped_ts_us: int | None = None, *, where: str = "",
                 stamp: str = "the time it was sent") -> Record:
        """The record if it may be processed, else InvalidMessage with the reason.

        `stamped_ts_us` is when the transport stamped the record (Kafka: the record timestamp,
        which `stamp` names in the reason); an event time further ahead than max_event_ahead is
        a broken clock, not the future. `where` names the input in the reason (default: the stream)."""
        expected = STREAM_TYPES[stream]
        if not isinstance(record, expected):
            raise InvalidMessage(f"a {record.TYPE} record in {where or stream} (expected {expected.TYPE})")
        if stamped_ts_us is not None and record.event_ts_us - stamped_ts_us > self.max_event_ahead_us:
            raise InvalidMessage(f"event time {record.event_ts_us} us is more than {self.max_event_ahead_us / 1e6:g} s "
                                 f"ahead of {stamp} ({stamped_ts_us // 1000} ms)")
        return record

    def handle(self, key: Hashable, offset: int, record: Trade | OrderBook, now_us: int) -> Decision:
        """Add a valid record to its window, or say why not."""
        part = self.partitions.get(key)
        if part is None:
            return Decision(Verdict.NOT_OURS)
        outcome = part.add(record.symbol, record.event_ts_us, offset, record, now_us, identity(record))
        if outcome is Outcome.ADDED:
            return Decision(Verdict.ADDED)
        if outcome is Outcome.REPLAYED:
            return Decision(Verdict.REPLAYED)
        if outcome is Outcome.DUPLICATE:
            return Decision(Verdict.DUPLICATE)
        start = self.spec.start_of(record.event_ts_us)
        return Decision(Verdict.LATE, f"late: event time {record.event_ts_us} us is in window "
                                      f"[{start}, {start + self.spec.size_us}) of {record.symbol}, closed at "
                                      f"watermark {part.closed_through_us} us")

    def handle_invalid(self, key: Hashable, offset: int, reason: str, now_us: int) -> Decision:
        """A record that failed decoding or validation: a dead letter, unless sent before a restart."""
        part = self.partitions.get(key)
        if part is None:
            return Decision(Verdict.NOT_OURS)
        part.seen(offset, now_us)
        if offset < part.replay_until:
            return Decision(Verdict.REPLAYED)
        return Decision(Verdict.INVALID, reason)

    # -- closing windows -------------------------------------------------------------
    def idle_streams(self, now_us: int) -> set[str]:
        """Input streams none of whose assigned partitions received a record for idle_timeout.

        The idle rule closes windows by wall-clock time only when the whole input has stopped
        (the generators ended). A single quiet partition while its neighbours still flow is
        rather a partition whose leader is failing over: its producer is retrying, and closing
        its windows early would turn those records into "late"."""
        busy = {self.streams[key] for key, part in self.partitions.items()
                if part.last_arrival_us is not None and now_us - part.last_arrival_us < self.spec.idle_timeout_us}
        return set(self.streams.values()) - busy

    def close_idle(self, now_us: int, caught_up: Callable[[Hashable, PartitionWindows], bool]) -> None:
        """Apply the idle rule; `caught_up(key, part)` says whether nothing is left to read there."""
        idle = self.idle_streams(now_us)
        for key, part in self.partitions.items():
            part.close_idle(now_us, self.streams[key] in idle and caught_up(key, part))

    def take_outputs(self, produced_ts_us: int) -> list[Output]:
        """The results of every window closed since the last call, stamped `produced_ts_us`."""
        return list(self._outputs(produced_ts_us))

    def _outputs(self, produced_ts_us: int) -> Iterator[Output]:
        for key, part in self.partitions.items():
            out_stream = INPUTS[self.streams[key]][1]
            for window in part.take_ready():
                yield Output(out_stream, window.result(produced_ts_us), key)

    def run(self, records: Iterable[tuple[Hashable, int, Record]], now_us: Callable[[], int]) -> tuple[
            list[Output], list[Decision]]:
        """Drive the logic from plain (key, offset, record) tuples, as a transport would, step by step
        without the idle rule: (outputs, dead-letter decisions). For tests and offline checks."""
        outputs: list[Output] = []
        dead: list[Decision] = []
        for key, offset, record in records:
            now = now_us()
            try:
                decision = self.handle(key, offset, self.validate(self.streams[key], record), now)
            except InvalidMessage as exc:
                decision = self.handle_invalid(key, offset, str(exc), now)
            if decision.verdict in (Verdict.LATE, Verdict.INVALID):
                dead.append(decision)
            outputs.extend(self.take_outputs(now))
        return outputs, dead
