"""What every ZeroMQ consumer does with a received message, before its own work.

Unpack the envelope, note (stream, producer, sequence) in the SequenceTracker (a gap:
messages that never arrived; a duplicate: dropped), decode the payload with serde and
check it is the stream's message type. Anything unusable is dropped with a one-line
reason (logged at most every few seconds per component, always counted): ZeroMQ has no
dead-letter queue, and a consumer never stops for bad input.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping, NamedTuple

from kafkalab.core import serde
from kafkalab.core.models import InvalidMessage, Record
from kafkalab.core.sequence import SequenceTracker, Verdict
from kafkalab.runtime.loop import Counters
from kafkalab.transports.zeromq.sockets import Envelope, unpack

_LOG = logging.getLogger(__name__)
REPORT_EVERY_S = 5.0
COUNTERS = ("received", "gaps", "duplicates", "dropped")


class Received(NamedTuple):
    envelope: Envelope
    record: Record
    verdict: Verdict


class Inbox:
    """Turns raw frames into validated records, counting gaps, duplicates and drops."""

    def __init__(self, component: str, counters: Counters, types: Mapping[str, type]) -> None:
        self.component = component
        self.counters = counters
        self.types = dict(types)  # stream -> the record type it carries
        self.tracker = SequenceTracker()
        self.last_reason = ""
        self._last_report = float("-inf")

    def accept(self, frame: bytes) -> Received | None:
        """The record of one message, or None (duplicate or dropped; counted either way)."""
        try:
            envelope = unpack(frame)
        except InvalidMessage as exc:
            return self.drop(f"not one of our messages: {exc}")
        if envelope.stream not in self.types:
            return self.drop(f"a message of stream {envelope.stream[:40]!r}, not one of {', '.join(self.types)}")
        verdict = self.tracker.note((envelope.stream, envelope.producer), envelope.sequence)
        self.counters.set("gaps", self.tracker.gaps)
        if verdict is Verdict.DUPLICATE:
            self.counters.set("duplicates", self.tracker.duplicates)
            return None
        self.counters.add("received")
        try:
            record = serde.decode(envelope.payload, envelope.headers)
        except InvalidMessage as exc:
            return self.drop(f"{envelope.stream} {envelope.position}: {exc}")
        expected = self.types[envelope.stream]
        if not isinstance(record, expected):
            return self.drop(f"{envelope.stream} {envelope.position}: a {record.TYPE}, expected a {expected.TYPE}")
        return Received(envelope, record, verdict)

    def drop(self, reason: str) -> None:
        self.counters.add("dropped")
        self.last_reason = reason
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY_S:
            self._last_report = now
            _LOG.warning("%s: dropped (%d so far): %s", self.component, self.counters["dropped"], reason)
        return None

    def summary(self) -> str:
        return (f"gaps {self.tracker.gaps}, duplicates {self.tracker.duplicates}, dropped {self.counters['dropped']}"
                + (f" (last: {self.last_reason})" if self.last_reason else ""))
