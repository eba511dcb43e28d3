"""pika clients for the components: one asynchronous connection driven in slices.

pika's BlockingConnection waits for every publisher confirm before the next publish (one
round trip per message: 74 msg/s measured into a quorum queue here, see bench.py). Its
SelectConnection confirms asynchronously, with many messages in flight; a component drives
it from its own loop with `pump(seconds, until)`, so it needs no thread of its own.

- `Session.open(urls)` connects to the first node that answers (one URL per node).
- `publish(...)` returns a sequence number; `confirmed()` hands back the numbers the broker
  has confirmed since the last call; a nack (e.g. quorum lost) raises PublishRefused.
- `consume(queue, prefetch)` buffers deliveries; `deliveries()` takes them; `ack(tag)`;
  `stop_consuming()` cancels, so that what was delivered can be finished before the exit.
- A lost connection raises ConnectionLost from `pump`; the component reopens, and the
  broker redelivers what was not acked (at-least-once).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Sequence

import pika
import pika.exceptions

from kafkalab.transports.rabbitmq.errors import RabbitError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10.0
HEARTBEAT_S = 10  # a dead node is noticed within about two heartbeats


class ConnectionLost(RabbitError):
    """The connection or channel closed under a running component."""


class PublishRefused(RabbitError):
    """The broker nacked a publish: the message was not stored (e.g. its queue lost quorum)."""

    def __init__(self, message: str, sequences: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.sequences = sequences  # the publishes refused, for a publisher that retries them


@dataclass(frozen=True)
class Delivery:
    tag: int
    routing_key: str
    headers: dict
    body: bytes
    redelivered: bool


def parameters(url: str, name: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = HEARTBEAT_S
    params.blocked_connection_timeout = 30
    params.socket_timeout = CONNECT_TIMEOUT_S
    params.client_properties = {"connection_name": name}
    return params


def where(url: str) -> str:
    """host:port of a URL, never its password."""
    params = pika.URLParameters(url)
    return f"{params.host}:{params.port}"


class Session:
    """One SelectConnection with one channel (confirms on), pumped by the caller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connection: pika.SelectConnection | None = None
        self.channel = None
        self.failure: str | None = None
        self._sequence = 0
        self._confirmed: list[int] = []
        self._unconfirmed: dict[int, None] = {}  # in publish order
        self._refused: list[int] = []
        self._buffer: deque[Delivery] = deque()
        self._consumers: set[str] = set()
        self._done = None

    # ---- connection --------------------------------------------------------------------
    def open(self, urls: Sequence[str], timeout_s: float = CONNECT_TIMEOUT_S) -> "Session":
        errors = []
        for url in urls:
            try:
                self._open_one(url, timeout_s)
                return self
            except RabbitError as exc:
                errors.append(str(exc))
        raise RabbitError(f"no RabbitMQ node answers ({'; '.join(errors)}); is the cluster up? "
                          f"(`kafkalab rabbitmq up`)")

    def _open_one(self, url: str, timeout_s: float) -> None:
        self.failure, self.channel = None, None
        self.connection = pika.SelectConnection(
            parameters(url, self.name), on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error, on_close_callback=self._on_close)
        self._pump_until(lambda: self.channel is not None or self.failure is not None, timeout_s)
        if self.channel is None:
            reason = self.failure or f"no answer within {timeout_s:g} s"
            self._stop_ioloop_cleanly()
            raise RabbitError(f"{where(url)}: {reason}")

    def _on_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)

        def ready(_frame) -> None:
            self.channel = channel
            self._wake()

        channel.confirm_delivery(self._on_confirm, callback=ready)

    def _on_open_error(self, _connection, error) -> None:
        if isinstance(error, pika.exceptions.ProbableAuthenticationError):
            self.failure = "wrong user name or password (ACCESS_REFUSED)"
        else:
            self.failure = f"cannot connect ({type(error).__name__}: {error})"
        self._wake()

    def _on_close(self, _connection, reason) -> None:
        self.failure = self.failure or f"connection closed ({reason})"
        self.channel = None
        self._wake()

    def _on_channel_closed(self, _channel, reason) -> None:
        self.failure = self.failure or f"channel closed ({reason})"
        self.channel = None
        self._wake()

    def close(self) -> None:
        if self.connection is not None and self.connection.is_open:
            self.connection.close()
            self._pump_until(lambda: self.connection.is_closed, 5.0)
        self._stop_ioloop_cleanly()

    def _stop_ioloop_cleanly(self) -> None:
        if self.connection is not None:
            try:
                self.connection.ioloop.close()
            except Exception:  # noqa: BLE001 - closing what is already broken
                pass

    # ---- the loop slice ----------------------------------------------------------------
    def pump(self, seconds: float, until=None) -> None:
        """Run the I/O loop for up to `seconds` (callbacks fire here), or until `until()` is
        true (checked after each callback, no polling); raise on a lost connection."""
        self._pump_until(until or (lambda: False), seconds)
        self.check()

    def pump_deliveries(self, seconds: float) -> None:
        """Until a delivery is buffered, or `seconds` pass."""
        self.pump(seconds, until=lambda: bool(self._buffer))

    def check(self) -> None:
        if self._refused:
            refused, self._refused = self._refused, []
            raise PublishRefused(f"RabbitMQ refused {len(refused)} message(s) (nack): a queue they route to "
                                 f"is not available (quorum lost?); they were not stored", tuple(refused))
        if self.channel is None or self.failure is not None:
            raise ConnectionLost(f"{self.name}: {self.failure or 'channel closed'}")

    def _pump_until(self, done, seconds: float) -> None:
        if done():
            return
        ioloop = self.connection.ioloop
        self._done = done
        timer = ioloop.call_later(seconds, ioloop.stop)
        try:
            ioloop.start()
        finally:
            self._done = None
            ioloop.remove_timeout(timer)

    def _wake(self) -> None:
        """After every callback: stop the loop slice once the caller's condition holds."""
        if self._done is not None and self._done():
            self.connection.ioloop.stop()

    # ---- publishing --------------------------------------------------------------------
    def publish(self, exchange: str, routing_key: str, body: bytes, headers: dict | None = None) -> int:
        if self.channel is None:
            self.check()
        self.channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent, headers=headers or {}))
        self._sequence += 1
        self._unconfirmed[self._sequence] = None
        return self._sequence

    @property
    def in_flight(self) -> int:
        return len(self._unconfirmed)

    def confirmed(self) -> list[int]:
        done, self._confirmed = self._confirmed, []
        return done

    def flush(self, timeout_s: float) -> None:
        """Until every publish so far is confirmed; one line if the broker does not confirm in time."""
        self._pump_until(lambda: not self._unconfirmed or self.failure is not None or self._refused, timeout_s)
        self.check()
        if self._unconfirmed:
            raise PublishRefused(f"{len(self._unconfirmed)} message(s) not confirmed within {timeout_s:g} s "
                                 f"(a queue without a quorum of nodes cannot store them)")

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if method.multiple:  # every tag up to this one, oldest first
            tags = []
            for tag in self._unconfirmed:
                if tag > method.delivery_tag:
                    break
                tags.append(tag)
        else:
            tags = [method.delivery_tag] if method.delivery_tag in self._unconfirmed else []
        for tag in tags:
            del self._unconfirmed[tag]
        (self._confirmed if isinstance(method, pika.spec.Basic.Ack) else self._refused).extend(tags)
        self._wake()

    # ---- consuming ---------------------------------------------------------------------
    def consume(self, queue: str, prefetch: int) -> None:
        self.channel.basic_qos(prefetch_count=prefetch)
        self._consumers.add(self.channel.basic_consume(queue, self._on_message, auto_ack=False))

    def stop_consuming(self, timeout_s: float) -> None:
        """Cancel every consumer and wait for the broker's cancel-ok: on one channel, every delivery
        sent before it arrives before it, so all the broker handed us is then in the buffer."""
        if self.channel is None:
            self.check()
        def cancelled(frame) -> None:
            self._consumers.discard(frame.method.consumer_tag)
            self._wake()

        for tag in list(self._consumers):
            self.channel.basic_cancel(tag, callback=cancelled)
        self._pump_until(lambda: not self._consumers or self.failure is not None, timeout_s)
        self.check()

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append(Delivery(method.delivery_tag, method.routing_key, dict(properties.headers or {}),
                                     body, method.redelivered))
        self._wake()

    def deliveries(self, limit: int = 0) -> list[Delivery]:
        taken = []
        while self._buffer and (not limit or len(taken) < limit):
            taken.append(self._buffer.popleft())
        return taken

    def ack(self, tag: int, multiple: bool = False) -> None:
        if self.channel is None:
            self.check()
        self.channel.basic_ack(tag, multiple=multiple)
