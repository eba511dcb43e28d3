"""Publishing one stream with per-producer sequence numbers, and receiving envelopes."""

from __future__ import annotations

import time
from typing import Callable

import zmq

from kafkalab.core import serde
from kafkalab.core.models import Record, now_us
from kafkalab.transports.zeromq.sockets import SEQ_BYTES, Envelope, count_subscriptions, meta_block, topic, unpack


def producer_id(component: str, instance: str = "0") -> str:
    """Unique per producer process: a restarted producer starts a new sequence from 1."""
    return f"{component}.{instance}.{now_us()}"


class StreamPublisher:
    """Sends records of one stream on an XPUB socket, numbering them 1, 2, 3, ..."""

    def __init__(self, sock: zmq.Socket, stream: str, producer: str, fmt: str) -> None:
        self.sock = sock
        self.stream = stream
        self._topic = topic(stream)
        self.producer = producer
        self.fmt = serde.check_format(fmt)
        self.sequence = 0
        self.subscribers = 0
        self._meta: dict[str, bytes] = {}  # per message type

    def send(self, record: Record) -> None:
        payload, headers = serde.encode(record, self.fmt)
        meta = self._meta.get(record.TYPE)
        if meta is None:
            meta = self._meta[record.TYPE] = meta_block(self.producer, headers)
        self.sequence += 1
        # One frame, copied: faster than zero-copy for messages this small (pyzmq's own advice).
        self.sock.send(self._topic + self.sequence.to_bytes(SEQ_BYTES, "big") + meta + payload)

    def poll_subscriptions(self) -> int:
        """Live count of subscriptions (as the socket heard them)."""
        self.subscribers += count_subscriptions(self.sock)
        return self.subscribers

    def wait_for_subscribers(self, expected: int, timeout_s: float, stop_requested: Callable[[], bool]) -> bool:
        """Wait (bounded) until `expected` consumers subscribed: messages sent before a
        subscription arrives are dropped by PUB, and would show as gaps at that consumer."""
        deadline = time.monotonic() + timeout_s
        while self.poll_subscriptions() < expected:
            left = deadline - time.monotonic()
            if left <= 0 or stop_requested():
                return False
            self.sock.poll(min(left, 0.1) * 1000, zmq.POLLIN)
        return True


def receive_batch(sock: zmq.Socket, timeout_s: float, limit: int) -> list[bytes]:
    """Up to `limit` messages: waits up to `timeout_s` for the first, takes the rest queued."""
    if not sock.poll(timeout_s * 1000, zmq.POLLIN):
        return []
    batch = []
    recv = sock.recv
    while len(batch) < limit:
        try:
            batch.append(recv(zmq.NOBLOCK))
        except zmq.Again:
            break
    return batch


__all__ = ["Envelope", "StreamPublisher", "producer_id", "receive_batch", "unpack"]
