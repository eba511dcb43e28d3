"""Dead letters on a real cluster: a consumer meets corrupt records between good ones;
the bad ones land in a dead-letter topic with the reason headers, the good ones are
all processed in order, and nothing is lost."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition

from kafkalab.transports.kafka import clients
from kafkalab.core import models, serde
from kafkalab.transports.kafka.deadletters import DeadLetterError, DeadLetters
from kafkalab.core.models import InvalidMessage, Trade

from helpers import Raw, produce, read_topic

pytestmark = pytest.mark.timeout(120)


def _trade(n: int) -> Trade:
    now = models.now_us()
    return Trade("ETH-USD", n, 3000.0 + n, 0.5, "sell", now, now)


def _produce_all(bootstrap: str, topic: str, records: list[tuple[bytes | None, list | None]]) -> None:
    produce(bootstrap, topic, [Raw(value, headers, b"ETH-USD") for value, headers in records])


@pytest.mark.parametrize("fmt", serde.FORMATS)
def test_corrupt_records_go_to_dead_letters_and_the_good_ones_go_through(bootstrap, new_topic, unique_name, fmt):
    source = new_topic(partitions=1)
    dead = new_topic(partitions=1, prefix="dlq")
    good = [_trade(n) for n in range(1, 7)]
    encoded = [serde.encode(t, fmt) for t in good]
    payload, headers = encoded[0]
    bad = [
        (payload[: len(payload) // 2], headers, "corrupt"),  # corrupt (truncated) bytes
        (payload, None, "missing header"),  # no headers
        (serde.encode(models.Trade("ETH-USD", 9, -1.0, 0.5, "buy", models.now_us(), models.now_us()), fmt)[0],
         headers, "price must be positive"),  # absurd value
    ]
    # good, bad, good, bad, good, bad, good...: every bad record has good neighbours.
    stream: list[tuple[bytes | None, list | None]] = []
    bad_offsets = []
    for i, (value, hdrs) in enumerate(encoded):
        stream.append((value, hdrs))
        if i < len(bad):
            bad_offsets.append(len(stream))
            stream.append(bad[i][:2])
    _produce_all(bootstrap, source, stream)

    processed: list[Trade] = []
    with clients.producer(bootstrap) as producer:
        letters = DeadLetters(producer, "test-consumer", topic=dead)
        with clients.consumer(bootstrap, unique_name("g"), [source]) as consumer:
            deadline = time.monotonic() + 45
            seen = 0
            while seen < len(stream) and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                seen += 1
                try:
                    processed.append(serde.decode(msg.value(), msg.headers()))
                except InvalidMessage as exc:
                    letters.send(msg, str(exc))
            letters.flush()  # dead letters acknowledged before the offsets move
            consumer.commit(asynchronous=False)
            committed = consumer.committed([TopicPartition(source, 0)], timeout=10)

    assert seen == len(stream)
    assert processed == good  # every good record, in order, around the bad ones
    assert letters.count == len(bad)
    assert committed[0].offset == len(stream)  # the consumer moved past the bad ones

    stored = read_topic(bootstrap, dead, len(bad), timeout_s=45)
    assert len(stored) == len(bad)
    for msg, (value, hdrs, expected_reason), offset in zip(stored, bad, bad_offsets):
        meta = {k: v.decode() for k, v in msg.headers() if k.startswith("dlq.")}
        assert expected_reason in meta["dlq.reason"]
        assert "\n" not in meta["dlq.reason"]
        assert meta["dlq.component"] == "test-consumer"
        assert meta["dlq.topic"] == source
        assert (meta["dlq.partition"], meta["dlq.offset"]) == ("0", str(offset))
        # The original record is kept whole: key, value and its own headers.
        assert msg.key() == b"ETH-USD" and msg.value() == value
        assert [h for h in msg.headers() if not h[0].startswith("dlq.")] == (hdrs or [])


def test_dead_letter_to_a_missing_topic_is_an_error_not_a_silent_loss(bootstrap, new_topic, unique_name):
    source = new_topic(partitions=1)
    _produce_all(bootstrap, source, [(b"garbage", None)])
    [msg] = read_topic(bootstrap, source, 1, timeout_s=45)
    # Auto-creation is off, so the dead letter cannot be delivered; a short timeout keeps this quick.
    with clients.producer(bootstrap, flush_timeout_s=1, **{"message.timeout.ms": 3000}) as producer:
        letters = DeadLetters(producer, "test-consumer", topic=unique_name("no-such-topic"))
        letters.send(msg, "missing header(s) content-type")
        with pytest.raises(DeadLetterError, match="could not be written"):
            letters.flush(timeout_s=15)


def test_an_oversized_record_is_dead_lettered_and_cut_to_fit(bootstrap, new_topic, unique_name):
    source = new_topic(partitions=1)
    dead = new_topic(partitions=1, prefix="dlq")
    _, headers = serde.encode(_trade(1), "json")
    huge = b"[" + b"1," * 350_000 + b"1]"  # 700 KB: fits Kafka's limit, not ours
    _produce_all(bootstrap, source, [(huge, headers)])
    [msg] = read_topic(bootstrap, source, 1, timeout_s=45)
    with pytest.raises(InvalidMessage) as info:
        serde.decode(msg.value(), msg.headers())
    with clients.producer(bootstrap) as producer:
        letters = DeadLetters(producer, "test-consumer", topic=dead)
        letters.send(msg, str(info.value))
        letters.flush()
    [stored] = read_topic(bootstrap, dead, 1, timeout_s=45)
    meta = {k: v.decode() for k, v in stored.headers() if k.startswith("dlq.")}
    assert "exceeds" in meta["dlq.reason"]
    assert meta["dlq.original-size"] == str(len(huge))
    assert stored.value() == huge[: len(stored.value())] and len(stored.value()) < len(huge)
