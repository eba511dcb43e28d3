"""Dead letters: a record a consumer cannot decode or validate is parked, not dropped.

Every consumer owns one `DeadLetters` on its producer. `send(msg, reason)` re-produces
the original key, value and headers to the dead-letter topic, plus headers that say
why and where it came from:

    dlq.reason     one line, e.g. "corrupt avro payload for trade: EOFError ..."
    dlq.component  the consumer that gave up on it (e.g. "processor")
    dlq.topic, dlq.partition, dlq.offset   where the original record is

so the consumer can commit past the bad record and keep running, and nothing is lost.
Call `flush()` before committing offsets: it waits for the dead letters to be
acknowledged and raises if any could not be written (then the offsets must not move).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkalab.errors import LabError
from kafkalab.transports.kafka.topics import DEAD_LETTERS

_LOG = logging.getLogger(__name__)

H_REASON = "dlq.reason"
H_COMPONENT = "dlq.component"
H_TOPIC = "dlq.topic"
H_PARTITION = "dlq.partition"
H_OFFSET = "dlq.offset"
H_ORIGINAL_SIZE = "dlq.original-size"  # only when the value had to be cut (see below)

# The dead letter carries extra headers, so an original at the size limit would not fit
# again; keep the first part of such a value (the reason says what was wrong anyway).
MAX_VALUE_BYTES = 512 * 1024
MAX_REASON_CHARS = 500


class DeadLetterError(LabError):
    """A dead letter could not be written: the consumer must not commit past its record."""


def _one_line(reason: str) -> str:
    text = " ".join(str(reason).split()) or "no reason given"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


class DeadLetters:
    """Sends undecodable/invalid records to a dead-letter topic with the reason."""

    def __init__(self, producer: Producer, component: str, topic: str = DEAD_LETTERS) -> None:
        self.producer = producer
        self.component = component
        self.topic = topic
        self.count = 0  # dead letters sent (handed to the producer)
        self.failed: list[str] = []  # delivery errors, one line each

    def headers_for(self, msg: Message, reason: str) -> list[tuple[str, bytes]]:
        offset = msg.offset()
        partition = msg.partition()
        return [
            *(msg.headers() or []),
            (H_REASON, _one_line(reason).encode("utf-8")),
            (H_COMPONENT, self.component.encode("utf-8")),
            (H_TOPIC, (msg.topic() or "").encode("utf-8")),
            (H_PARTITION, str(partition if partition is not None else -1).encode()),
            (H_OFFSET, str(offset if offset is not None else -1).encode()),
        ]

    def send(self, msg: Message, reason: str) -> None:
        headers = self.headers_for(msg, reason)
        value = msg.value()
        if value is not None and len(value) > MAX_VALUE_BYTES:
            headers.append((H_ORIGINAL_SIZE, str(len(value)).encode()))
            value = value[:MAX_VALUE_BYTES]
        _LOG.warning("dead letter from %s %s[%s]@%s: %s", self.component, msg.topic(),
                     msg.partition(), msg.offset(), _one_line(reason))
        self._produce(msg.key(), value, headers)
        self.count += 1

    def _produce(self, key: bytes | None, value: bytes | None, headers: list) -> None:
        while True:
            try:
                self.producer.produce(self.topic, key=key, value=value, headers=headers,
                                      on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.5)
            except KafkaException as exc:
                raise DeadLetterError(f"cannot queue a dead letter for topic {self.topic!r}: {exc}") from None

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.failed.append(f"{err.name()}: {err.str()}")

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every dead letter is acknowledged; raise if any is not."""
        left = self.producer.flush(timeout_s)
        if left:
            raise DeadLetterError(f"{left} record(s) still unacknowledged after {timeout_s:g} s "
                                  f"writing dead letters to {self.topic!r}; is the cluster reachable?")
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self.failed:
            first, n = self.failed[0], len(self.failed)
            self.failed = []
            raise DeadLetterError(f"{n} dead letter(s) could not be written to {self.topic!r} ({first}); "
                                  f"check that the topic exists (`kafkalab topics create`)")


