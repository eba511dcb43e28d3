"""RabbitMQ's part in `kafkalab run --transport rabbitmq` (kafkalab.pipeline.plan.TransportPlan)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.rabbitmq.settings import rabbit_config


class RabbitPlan:
    transport = "rabbitmq"

    @contextmanager
    def broker(self, config: LabConfig, echo: Callable[[str], None]) -> Iterator[None]:
        """Use the cluster that answers; else start the local one and stop it at exit."""
        from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster

        rabbit = rabbit_config(config)
        cluster = LocalRabbitCluster(rabbit, echo=echo)
        started = not rabbit.urls and not all(n.running for n in cluster.nodes())
        if started:
            cluster.up()
        try:
            yield
        finally:
            if started:
                cluster.down()

    def prepare(self, config: LabConfig, params: ComponentParams) -> None:
        from kafkalab.transports.rabbitmq.cluster import client_urls
        from kafkalab.transports.rabbitmq.topology import declare_topology

        declare_topology(client_urls(rabbit_config(config)))

    def backlog(self, config: LabConfig, component: str, params: ComponentParams) -> int | None:
        """Ready plus unacked messages in the component's queues (None for a generator)."""
        from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster
        from kafkalab.transports.rabbitmq.errors import RabbitError
        from kafkalab.transports.rabbitmq.topology import CONSUMER_QUEUES

        queues = CONSUMER_QUEUES.get(component)
        if not queues:
            return None
        cluster = LocalRabbitCluster(rabbit_config(config))
        for node in cluster.nodes():
            if node.running:
                try:
                    views = cluster.management(node.node_id).queues()
                except LabError:
                    continue
                counts = [q.messages for q in views if q.name in queues]
                if len(counts) < len(queues) or None in counts:
                    # not an empty queue: one whose first statistics tick is still to come (ask again)
                    raise RabbitError(f"the queues of {component} report no message count yet")
                return sum(counts)
        return None


PLAN = RabbitPlan()
