"""Sockets that always close (with a linger), and the envelope every message travels in.

Wire format: a multipart message of three frames

    [stream name] [meta: sequence (8 bytes, big endian) + producer id + "\\n" + headers] [payload]

The first frame is the PUB/SUB topic (a subscriber filters on it), the payload and the
headers are kafkalab.core.serde's (the format travels in the headers, as over Kafka).
Only the 8 sequence bytes change per message: the rest of meta is built once per
(producer, format, message type).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import zmq

from kafkalab.core.models import InvalidMessage
from kafkalab.errors import LabError

# Publishers flush what is queued for connected peers for up to this long at close;
# subscribers drop what they have not read (0): nobody will read it.
PUBLISHER_LINGER_MS = 2_000
SUBSCRIBER_LINGER_MS = 0
SEQ_BYTES = 8
FRAMES = 3


class BadEnvelope(InvalidMessage):
    """Frames that are not one of our messages (the reason is one line)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    stream: str
    producer: str
    sequence: int
    headers: list
    payload: bytes

    @property
    def position(self) -> str:
        return f"{self.producer}:{self.sequence}"


def meta_prefix(producer: str, headers: Sequence[tuple[str, bytes]]) -> bytes:
    """The constant part of meta for one producer and one (format, message type)."""
    if ":" in producer or "\n" in producer:
        raise ValueError(f"producer id {producer!r} must not contain ':' or a line break")
    return (producer + "\n").encode() + b"\n".join(k.encode() + b"=" + bytes(v) for k, v in headers)


def unpack(frames: Sequence[bytes]) -> Envelope:
    if len(frames) != FRAMES:
        raise BadEnvelope(f"{len(frames)} frame(s), expected {FRAMES} (stream, meta, payload)")
    stream_frame, meta, payload = frames
    if len(meta) <= SEQ_BYTES:
        raise BadEnvelope(f"meta frame of {len(meta)} bytes is too short for a sequence and a producer")
    try:
        stream = bytes(stream_frame).decode("ascii")
        producer, *header_lines = bytes(meta[SEQ_BYTES:]).decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise BadEnvelope("stream or meta frame is not ASCII text") from None
    headers = []
    for line in header_lines:
        name, is_pair, value = line.partition("=")
        if not is_pair:
            raise BadEnvelope(f"header line {line[:40]!r} is not name=value")
        headers.append((name, value.encode()))
    sequence = int.from_bytes(meta[:SEQ_BYTES], "big")
    if not producer or sequence < 1:
        raise BadEnvelope(f"no producer id or a sequence below 1 ({sequence})")
    return Envelope(stream, producer, sequence, headers, bytes(payload))


@contextlib.contextmanager
def context() -> Iterator[zmq.Context]:
    """One ZeroMQ context per component (its I/O thread); terminated at exit."""
    ctx = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.term()  # every socket is closed by its own context manager first


@contextlib.contextmanager
def publisher(ctx: zmq.Context, address: str, hwm: int) -> Iterator[zmq.Socket]:
    """An XPUB socket bound to `address`: a PUB that also hears its subscriptions.

    At the high-water mark (per subscriber) it drops, never blocks: the producer keeps its
    pace and the subscriber counts the hole in the sequence.
    """
    sock = ctx.socket(zmq.XPUB)
    try:
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.LINGER, PUBLISHER_LINGER_MS)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscription, also a repeated one
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            raise LabError(f"cannot bind ZeroMQ endpoint {address} ({exc.strerror}); is another producer of "
                           f"this stream running? stop it or set another endpoint in KAFKALAB_ZMQ_ENDPOINTS") from None
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def subscriber(ctx: zmq.Context, addresses: Sequence[str], streams: Sequence[str], hwm: int) -> Iterator[zmq.Socket]:
    """A SUB socket connected to every address, subscribed to the given streams."""
    sock = ctx.socket(zmq.SUB)
    try:
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.LINGER, SUBSCRIBER_LINGER_MS)
        for stream in streams:
            sock.setsockopt(zmq.SUBSCRIBE, stream.encode())
        for address in addresses:
            try:
                sock.connect(address)
            except zmq.ZMQError as exc:
                raise LabError(f"cannot connect to ZeroMQ endpoint {address} ({exc.strerror}); "
                               f"check KAFKALAB_ZMQ_ENDPOINTS") from None
        yield sock
    finally:
        sock.close()


def count_subscriptions(sock: zmq.Socket) -> int:
    """Drain subscription events of an XPUB without waiting: +1 per subscribe, -1 per unsubscribe."""
    change = 0
    while True:
        try:
            event = sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return change
        if event[:1] == b"\x01":
            change += 1
        elif event[:1] == b"\x00":
            change -= 1
