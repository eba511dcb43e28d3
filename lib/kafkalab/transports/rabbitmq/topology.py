"""The RabbitMQ topology, declared once here (the counterpart of Kafka's TOPICS).

    generators --> lab.feeds (topic) --trades.*------------------------> sink.trades
                     |  ^         \\--candles.*, book-features.*-------> sink.candles
                     |  |          \\--trades.*, orderbooks.* --> lab.processor-shards
                     |  |                    (x-consistent-hash on the `symbol` header)
                     |  \\-- candles, book features                 |         |
                     |      (from the processor)            processor.shard-0 .. -N
                     \\ consumers publish what they cannot read --> lab.dead-letters --> dead-letters

Routing keys are `<stream>.<symbol>`. Every queue is a quorum queue with a member on each of
the three nodes (the RF-3 counterpart: a write is confirmed once a majority stored it; with
two nodes down the queue has no majority and writes are refused, not lost).

Per-symbol order with several processor instances: a quorum queue delivers in order to one
consumer, but competing consumers on one queue would interleave a symbol's records. So the
processor input is sharded: the consistent-hash exchange sends every record of a symbol (its
trades and its books, hashed on the `symbol` header) to one shard queue, and each shard queue
has single-active-consumer on: instance k of n consumes shards k, k+n, ...; a second copy of
an instance waits as a hot standby and takes over, in order, when the active one goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES

FEEDS_EXCHANGE = "lab.feeds"
SHARDS_EXCHANGE = "lab.processor-shards"
DEAD_LETTER_EXCHANGE = "lab.dead-letters"
DEAD_LETTER_QUEUE = "dead-letters"
PROCESSOR_SHARDS = 2
SYMBOL_HEADER = "symbol"
REASON_HEADER = "x-reason"  # why a consumer dead-lettered a message (one line)
DELIVERY_LIMIT = 5  # a message redelivered this often (a consumer crashing on it) is dead-lettered


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: str
    arguments: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key or binding key)
    single_active_consumer: bool = False

    def arguments(self) -> dict:
        args = {"x-queue-type": "quorum", "x-quorum-initial-group-size": 3}
        if self.name != DEAD_LETTER_QUEUE:
            args.update({"x-delivery-limit": DELIVERY_LIMIT, "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE})
        if self.single_active_consumer:
            args["x-single-active-consumer"] = True
        return args


def routing_key(stream: str, symbol: str) -> str:
    return f"{stream}.{symbol}"


def shard_queue(shard: int) -> str:
    return f"processor.shard-{shard}"


def shards_of(instance: int, instances: int, shards: int = PROCESSOR_SHARDS) -> list[int]:
    """The shard queues that processor instance `instance` (0-based) of `instances` consumes."""
    return [s for s in range(shards) if s % max(1, instances) == instance % max(1, instances)]


EXCHANGES = (
    ExchangeSpec(FEEDS_EXCHANGE, "topic"),
    ExchangeSpec(SHARDS_EXCHANGE, "x-consistent-hash", {"hash-header": SYMBOL_HEADER}),
    ExchangeSpec(DEAD_LETTER_EXCHANGE, "fanout"),
)
# exchange-to-exchange: the feeds the processor reads reach the sharding exchange
EXCHANGE_BINDINGS = ((FEEDS_EXCHANGE, SHARDS_EXCHANGE, f"{TRADES}.*"), (FEEDS_EXCHANGE, SHARDS_EXCHANGE, f"{ORDERBOOKS}.*"))
QUEUES = (
    *(QueueSpec(shard_queue(s), ((SHARDS_EXCHANGE, "1"),), single_active_consumer=True)
      for s in range(PROCESSOR_SHARDS)),
    QueueSpec("sink.trades", ((FEEDS_EXCHANGE, f"{TRADES}.*"),)),
    QueueSpec("sink.candles", ((FEEDS_EXCHANGE, f"{CANDLES}.*"), (FEEDS_EXCHANGE, f"{BOOK_FEATURES}.*"))),
    QueueSpec(DEAD_LETTER_QUEUE, ((DEAD_LETTER_EXCHANGE, ""),)),
)
QUEUES_BY_NAME = {q.name: q for q in QUEUES}
# which queue(s) each consumer component reads
CONSUMER_QUEUES = {
    "trades-sink": ("sink.trades",),
    "candles-sink": ("sink.candles",),
    "market-processor": tuple(shard_queue(s) for s in range(PROCESSOR_SHARDS)),
}


def ready_messages(urls, queues) -> int:
    """Messages waiting in `queues` now, as each queue counts them (a passive declare). The
    management API's counts are samples, seen here up to 7.5 s old: a drain that trusts them
    can stop a sink before the last candles reach it. Delivered, unacknowledged messages are
    not counted here."""
    import pika
    import pika.exceptions

    from kafkalab.transports.rabbitmq.clients import parameters
    from kafkalab.transports.rabbitmq.errors import RabbitError

    try:
        with pika.BlockingConnection([parameters(u, "kafkalab-backlog") for u in urls]) as connection:
            channel = connection.channel()
            return sum(channel.queue_declare(q, passive=True).method.message_count for q in queues)
    except pika.exceptions.AMQPError as exc:
        raise RabbitError(f"cannot count the messages in {', '.join(queues)} ({type(exc).__name__}: {exc})") from exc


def declare_topology(urls) -> None:
    """Declare every exchange, queue and binding (idempotent: same arguments, no change)."""
    import pika

    from kafkalab.transports.rabbitmq.clients import parameters

    with pika.BlockingConnection([parameters(u, "kafkalab-topology") for u in urls]) as connection:
        channel = connection.channel()
        for ex in EXCHANGES:
            channel.exchange_declare(ex.name, ex.type, durable=True, arguments=ex.arguments)
        for source, destination, key in EXCHANGE_BINDINGS:
            channel.exchange_bind(destination, source, routing_key=key)
        for queue in QUEUES:
            channel.queue_declare(queue.name, durable=True, arguments=queue.arguments())
            for exchange, key in queue.bindings:
                channel.queue_bind(queue.name, exchange, routing_key=key)
