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
        """Messages in the component's queues, ready or delivered and not acked (None for a generator).

        The management API counts both, but from samples seen here up to 7.5 s old; a queue counts
        its ready messages now, but not the unacked ones (the processor holds the records of its
        open windows unacked). The larger of the two: a sample that is older than the last
        candles published cannot hide them, and the sinks store what they were handed before they
        exit (RabbitCsvSink.finish)."""
        from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster, client_urls
        from kafkalab.transports.rabbitmq.errors import RabbitError
        from kafkalab.transports.rabbitmq.topology import CONSUMER_QUEUES, ready_messages

        queues = CONSUMER_QUEUES.get(component)
        if not queues:
            return None
        rabbit = rabbit_config(config)
        cluster = LocalRabbitCluster(rabbit)
        for node in cluster.nodes():
            if node.running:
                try:
                    views = cluster.management(node.node_id).queues()
                except LabError:
                    continue
                sampled = [q.messages for q in views if q.name in queues]
                if len(sampled) < len(queues) or None in sampled:
                    # not an empty queue: one whose first statistics tick is still to come (ask again)
                    raise RabbitError(f"the queues of {component} report no message count yet")
                return max(sum(sampled), ready_messages(client_urls(rabbit), queues))
        return None


PLAN = RabbitPlan()
