"""RabbitMQ's TransportPlan: a running cluster is used and left running; backlog = queue depth."""

from __future__ import annotations

import pika

from kafkalab import config as lab_config
from kafkalab.pipeline.plan import transport_plan
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.rabbitmq.clients import parameters
from kafkalab.transports.rabbitmq.errors import RabbitError
from kafkalab.transports.rabbitmq.topology import FEEDS_EXCHANGE
from helpers import wait_for
from tests.integration.rabbitmq.helpers import fresh_topology


def test_backlog_counts_what_waits_for_each_consumer(rabbit_cluster):
    plan, config, params = transport_plan("rabbitmq"), lab_config.load(), ComponentParams()
    with plan.broker(config, echo=print):  # all nodes run: nothing started, nothing stopped
        plan.prepare(config, params)
        fresh_topology(rabbit_cluster)
        with pika.BlockingConnection(parameters(rabbit_cluster.urls()[0], "test-plan")) as connection:
            for _ in range(5):
                connection.channel().basic_publish(FEEDS_EXCHANGE, "trades.AAPL", b"x")

        def backlog(component: str) -> int | None:
            try:
                return plan.backlog(config, component, params)
            except RabbitError:  # a fresh queue reports no count until its first statistics tick
                return None

        wait_for(lambda: backlog("trades-sink") == 5, 60, "5 messages for the trades sink")
        wait_for(lambda: backlog("candles-sink") is not None, 60, "the candles sink's queue statistics")
        assert backlog("candles-sink") == 0
        assert plan.backlog(config, "trade-generator", params) is None
    assert all(n.running for n in rabbit_cluster.nodes())
    fresh_topology(rabbit_cluster)
