"""RabbitMQ's measurements for `kafkalab bench transports` and the client choice.

Every figure is one Python publisher with publisher confirms into a quorum queue with a
member on each of the three nodes, the same payload (a serialized Trade), measured here.

Client choice (`compare_clients`): pika's SelectConnection with a window of unconfirmed
messages (our clients.Session), pika's BlockingConnection with confirms (it waits for each
confirm: one round trip per message), and aio-pika (asyncio; confirms awaited with the same
window). The components use the fastest of them as measured.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import pika

from kafkalab.runtime.processes import usage_while
from kafkalab.transports.rabbitmq.clients import Session, parameters
from kafkalab.transports.rabbitmq.topology import QueueSpec

DURABILITY = "confirms + quorum queues RF3"
WINDOW = 1000  # unconfirmed messages in flight per publisher


def sample_payload() -> tuple[bytes, dict]:
    from kafkalab.core.models import Trade, now_us
    from kafkalab.core.serde import encode

    ts = now_us()
    trade = Trade(symbol="AAPL", trade_id=1, price=190.25, size=12.0, side="buy", event_ts_us=ts, produced_ts_us=ts)
    body, headers = encode(trade, "msgpack")
    return body, {k: v.decode() if isinstance(v, bytes) else v for k, v in headers}


def bench_queue(urls) -> str:
    """A fresh quorum queue on all three nodes, deleted by the caller."""
    name = f"bench.{uuid.uuid4().hex[:8]}"
    spec = QueueSpec(name, ())
    with pika.BlockingConnection([parameters(u, "kafkalab-bench") for u in urls]) as connection:
        args = {k: v for k, v in spec.arguments().items() if not k.startswith(("x-delivery", "x-dead"))}
        connection.channel().queue_declare(name, durable=True, arguments=args)
    return name


def delete_queue(urls, name: str) -> None:
    with pika.BlockingConnection([parameters(u, "kafkalab-bench") for u in urls]) as connection:
        connection.channel().queue_delete(name)


def publish_rate_select(urls, queue: str, count: int, window: int = WINDOW) -> float:
    body, headers = sample_payload()
    session = Session("bench-select").open(urls)
    try:
        began = time.perf_counter()
        sent = 0
        while sent < count:
            while sent < count and session.in_flight < window:
                session.publish("", queue, body, headers)
                sent += 1
            session.pump(1.0, until=lambda: session.in_flight < window // 2)
        session.flush(60.0)
        return count / (time.perf_counter() - began)
    finally:
        session.close()


def publish_rate_blocking(urls, queue: str, count: int) -> float:
    body, headers = sample_payload()
    with pika.BlockingConnection([parameters(u, "bench-blocking") for u in urls]) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        props = pika.BasicProperties(delivery_mode=2, headers=headers)
        began = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", queue, body, props)
        return count / (time.perf_counter() - began)


def publish_rate_aio(urls, queue: str, count: int, window: int = WINDOW) -> float:
    import aio_pika

    body, headers = sample_payload()

    async def run() -> float:
        connection = await aio_pika.connect(urls[0])
        try:
            channel = await connection.channel(publisher_confirms=True)
            began = time.perf_counter()
            for start in range(0, count, window):  # a window of confirms awaited together
                await asyncio.gather(*(channel.default_exchange.publish(
                    aio_pika.Message(body, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue) for _ in range(min(window, count - start))))
            return count / (time.perf_counter() - began)
        finally:
            await connection.close()

    return asyncio.run(run())


def compare_clients(urls, count: int) -> list[dict]:
    """msg/s confirmed per client, each on a fresh quorum queue."""
    import importlib.metadata as md

    runs = (("pika SelectConnection", "pika", lambda q: publish_rate_select(urls, q, count)),
            ("pika BlockingConnection", "pika", lambda q: publish_rate_blocking(urls, q, max(200, count // 20))),
            ("aio-pika", "aio-pika", lambda q: publish_rate_aio(urls, q, count)))
    rows = []
    for client, package, run in runs:
        queue = bench_queue(urls)
        try:
            rate = run(queue)
        finally:
            delete_queue(urls, queue)
        rows.append({"transport": "rabbitmq", "metric": "publish_rate_max", "value": round(rate, 1), "unit": "msg/s",
                     "durability": DURABILITY, "client": client, "client_version": md.version(package)})
    return rows


# ---- the contract: measure(config, quick) -> rows of results/bench/transports.csv ------

def _row(metric: str, value: float, unit: str, **extra) -> dict:
    import importlib.metadata as md

    return {"transport": "rabbitmq", "metric": metric, "value": round(value, 3), "unit": unit,
            "durability": DURABILITY, "client": "pika SelectConnection", "client_version": md.version("pika"), **extra}


def latency_ms(urls, queue: str, rate_hz: float, count: int) -> list[float]:
    """Publish at `rate_hz` (confirms on) and consume in a second connection (ack each);
    publish-to-delivery times in ms, from a timestamp header."""
    import threading

    from kafkalab.core.pacing import Pacer

    body, headers = sample_payload()
    received: list[float] = []
    consumer = Session("bench-consumer").open(urls)
    consumer.consume(queue, prefetch=1000)
    done = threading.Event()

    def consume() -> None:
        while len(received) < count and not done.is_set():
            consumer.pump_deliveries(0.2)
            for d in consumer.deliveries():
                received.append((time.time_ns() - int(d.headers["sent_ns"])) / 1e6)
                consumer.ack(d.tag)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    publisher = Session("bench-publisher").open(urls)
    pacer = Pacer(rate_hz)
    sent = 0
    try:
        while sent < count:
            for _ in range(min(pacer.due(), count - sent)):
                publisher.publish("", queue, body, {**headers, "sent_ns": str(time.time_ns())})
                sent += 1
                pacer.sent(1)
            publisher.pump(min(pacer.seconds_until_due(), 0.05))
            publisher.confirmed()
        publisher.flush(60.0)
        thread.join(60.0)
    finally:
        done.set()
        thread.join(5.0)
        publisher.close()
        consumer.close()
    return received


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def measure(config, quick: bool) -> list[dict]:
    from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster, client_urls
    from kafkalab.transports.rabbitmq.settings import rabbit_config

    rabbit = rabbit_config(config)
    urls = client_urls(rabbit)
    pids = [n.pid for n in LocalRabbitCluster(rabbit).nodes() if n.running]
    count = 5_000 if quick else 50_000
    rows = []
    queue = bench_queue(urls)
    try:
        usage = usage_while(pids, lambda: publish_rate_select(urls, queue, count))
        rows += [_row("publish_rate_max", usage.result, "msg/s", messages=count),
                 # beside the broker's: which side of the connection sets the rate
                 _row("publisher_cpu_pct", usage.own_cpu_pct, "% of one core", during="publish_rate_max"),
                 _row("broker_cpu_pct", usage.cpu_pct, "% of one core", during="publish_rate_max", nodes=len(pids)),
                 _row("broker_rss_mib", usage.rss_mib, "MiB", during="publish_rate_max", nodes=len(pids))]
    finally:
        delete_queue(urls, queue)
    for rate_hz, seconds in ((10, 10 if quick else 30), (1000, 3 if quick else 10)):
        queue = bench_queue(urls)
        try:
            values = latency_ms(urls, queue, rate_hz, int(rate_hz * seconds))
        finally:
            delete_queue(urls, queue)
        rows += [_row("latency_p50_ms", percentile(values, 50), "ms", rate_hz=rate_hz, messages=len(values)),
                 _row("latency_p99_ms", percentile(values, 99), "ms", rate_hz=rate_hz, messages=len(values))]
    return rows
