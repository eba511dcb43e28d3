"""Per-producer sequence numbers: how a consumer without a broker sees what it missed.

Every message of a brokerless stream carries (producer, sequence): the producer id is
unique per producer process (it includes its start time), the sequence counts that
producer's messages on that stream from 1 without a hole. A consumer notes each pair:

- sequence == last + 1: in order;
- sequence >  last + 1: `sequence - last - 1` messages never arrived (a gap);
- sequence <= last:      a duplicate (already seen; the caller drops it).

A producer seen for the first time is counted from sequence 1, so what was sent before
the consumer joined is a gap too: a loss is never silent. A consumer that keeps its
position durably (a sink's CSV) calls `resume` at start, and then the messages sent
while it was down are counted as exactly that gap.

Pure and transport-free: kafkalab.transports.zeromq feeds it, unit tests drive it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Hashable, Iterator


class Verdict(Enum):
    IN_ORDER = "in-order"
    AFTER_GAP = "after-gap"  # accepted, but messages before it are missing
    DUPLICATE = "duplicate"  # at or below the last sequence seen: drop it


@dataclass
class ProducerCount:
    last: int = 0  # the highest sequence seen (or resumed from)
    received: int = 0
    gaps: int = 0  # messages known to be missing
    duplicates: int = 0


class SequenceTracker:
    """Gap and duplicate counts per (stream, producer) key."""

    def __init__(self) -> None:
        self._counts: dict[Hashable, ProducerCount] = {}

    def resume(self, key: Hashable, last: int) -> None:
        """Continue after `last` (from durable state): nothing up to it is a gap."""
        count = self._counts.setdefault(key, ProducerCount())
        count.last = max(count.last, int(last))

    def note(self, key: Hashable, sequence: int) -> Verdict:
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = ProducerCount()
        if sequence <= count.last:
            count.duplicates += 1
            return Verdict.DUPLICATE
        missing = sequence - count.last - 1
        count.last = sequence
        count.received += 1
        if missing:
            count.gaps += missing
            return Verdict.AFTER_GAP
        return Verdict.IN_ORDER

    def last(self, key: Hashable) -> int:
        count = self._counts.get(key)
        return count.last if count is not None else 0

    def items(self) -> Iterator[tuple[Hashable, ProducerCount]]:
        return iter(list(self._counts.items()))

    @property
    def gaps(self) -> int:
        return sum(c.gaps for c in self._counts.values())

    @property
    def duplicates(self) -> int:
        return sum(c.duplicates for c in self._counts.values())
