"""Bad input is dead-lettered with its reason and the consumer keeps running; an unreachable
broker or wrong credentials end a component with one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pika
import pytest

from kafkalab.transports.rabbitmq.clients import parameters
from kafkalab.transports.rabbitmq.topology import FEEDS_EXCHANGE, REASON_HEADER
from helpers import read_rows, wait_for
from tests.integration.rabbitmq.helpers import Proc, dead_letters, fresh_topology


def _run(name: str, url: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kafkalab.transports.rabbitmq.components", name,
                           f"results_dir={tmp_path}", "max_seconds=5"],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "KAFKALAB_RABBITMQ_URL": url})


@pytest.mark.parametrize("component", ["trade-generator", "trades-sink"])
def test_wrong_password_is_one_line_and_exit_1(rabbit_cluster, tmp_path, component):
    url = f"amqp://kafkalab:wrong@127.0.0.1:{rabbit_cluster.config.amqp_port(1)}/%2F"
    done = _run(component, url, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "wrong user name or password" in lines[0] and "wrong@" not in lines[0], done.stderr


def test_unreachable_broker_is_one_line_and_exit_1(tmp_path):
    done = _run("market-processor", "amqp://kafkalab:x@127.0.0.1:1/%2F", tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no RabbitMQ node answers" in lines[0] and "127.0.0.1:1" in lines[0], done.stderr


def test_bad_input_is_dead_lettered_with_its_reason_and_consumers_keep_running(rabbit_cluster, tmp_path):
    fresh_topology(rabbit_cluster)
    consumers = [Proc(name, tmp_path) for name in ("trades-sink", "market-processor", "candles-sink")]
    with pika.BlockingConnection(parameters(rabbit_cluster.urls()[0], "test-bad")) as connection:
        channel = connection.channel()
        channel.basic_publish(FEEDS_EXCHANGE, "trades.AAPL", b"\x00not msgpack",
                              pika.BasicProperties(headers={"content-type": "application/msgpack",
                                                            "message-type": "trade", "symbol": "AAPL"}))
        channel.basic_publish(FEEDS_EXCHANGE, "candles.AAPL", b"{}", pika.BasicProperties(headers={}))
    # trades -> sink.trades and a processor shard; candles -> sink.candles: three dead letters
    letters: list = []

    def three_letters() -> bool:
        letters.extend(dead_letters(rabbit_cluster))
        return len(letters) >= 3

    wait_for(three_letters, 90, "three dead letters")
    consumers_named = sorted(h["x-consumer"] for h, _ in letters)
    assert consumers_named == ["candles-sink", "market-processor", "trades-sink"]
    assert all(h[REASON_HEADER] and "\n" not in h[REASON_HEADER] for h, _ in letters)
    generator = Proc("trade-generator", tmp_path, rate_hz=20, max_seconds=3)
    generator.wait()
    wait_for(lambda: len(read_rows(tmp_path / "data" / "trades.csv")) == generator.counter("acked"), 90,
               "the trades sink still writing after the bad input")
    for proc in consumers:
        assert proc.process.poll() is None, proc.output()[-800:]
        proc.stop()
