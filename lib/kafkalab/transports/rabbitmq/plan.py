"""RabbitMQ's part in `kafkalab run --transport rabbitmq` (kafkalab.pipeline.plan.TransportPlan)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.runtime.params import MARKET_PROCESSOR, ComponentParams
from kafkalab.transports.rabbitmq.settings import rabbit_config


# The management API's counts lag the queues: new messages were seen there 2.1-7.5 s late on a
# quiet machine, and a processor's queue read empty 8 s into a run with 25 records unacked. Those
# samples are the only count of the records a processor holds unacked (its open windows), so its
# backlog must read 0 for longer than they can lag: 0 then holds for a moment after the last
# record (ready messages are counted by the queues themselves, so the sinks need no such wait).
PROCESSOR_SETTLE_S = 15.0


class RabbitPlan:
    transport = "rabbitmq"

    def settle_s(self, component: str) -> float:
        return PROCESSOR_SETTLE_S if component == MARKET_PROCESSOR else 0.0

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

        The management API counts both, but from samples that lag (PROCESSOR_SETTLE_S); a queue
        counts its ready messages now, but not the unacked ones. The larger of the two: a sample
        older than the last candles published cannot hide them, and the sinks store what they
        were handed before they exit (RabbitCsvSink.finish)."""
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
