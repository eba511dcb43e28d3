"""Kafka's part in a pipeline run (kafkalab.pipeline.plan.TransportPlan).

- broker: the configured cluster if it answers; otherwise, when the bootstrap servers are
  the local default, the local 3-node cluster is started and stopped again at the end.
- prepare: the declared topics (partitions, RF 3, min ISR 2) under the run's stream names.
- backlog: a consumer group's lag (committed offsets vs last stable offsets).
- assigned: the group owns every partition of its inputs (the runner starts the generators
  only then).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Iterator

from kafkalab.config import LabConfig
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.kafka import clients, components, topics
from kafkalab.transports.kafka.lag import LagProbe, group_ready


def topic_specs(params: ComponentParams) -> list[topics.TopicSpec]:
    """The declared topics, each under the name its stream has in this run."""
    return [replace(spec, name=params.stream(spec.name)) for spec in topics.TOPICS]


class KafkaPlan:
    transport = "kafka"

    def __init__(self) -> None:
        self._probes: dict[str, LagProbe] = {}

    def _probe(self, config: LabConfig) -> LagProbe:
        if config.bootstrap_servers not in self._probes:
            self._probes[config.bootstrap_servers] = LagProbe(config.bootstrap_servers)
        return self._probes[config.bootstrap_servers]

    @contextmanager
    def broker(self, config: LabConfig, echo: Callable[[str], None]) -> Iterator[None]:
        from kafkalab.transports.kafka.cluster import LocalCluster

        try:
            clients.require_reachable(config.bootstrap_servers, timeout_s=5.0)
            cluster = None
        except clients.KafkaUnavailable:
            if config.bootstrap_servers != config.cluster.bootstrap_servers:
                raise  # not ours to start: the message says what to check
            echo(f"no Kafka at {config.bootstrap_servers}; starting the local cluster")
            cluster = LocalCluster(config.cluster, echo=echo)
            cluster.up()
        try:
            yield
        finally:
            if cluster is not None:
                echo("stopping the local cluster this run started")
                cluster.down()

    def prepare(self, config: LabConfig, params: ComponentParams) -> None:
        clients.ensure_topics(config.bootstrap_servers, topic_specs(params))

    def backlog(self, config: LabConfig, component: str, params: ComponentParams) -> int | None:
        return self._probe(config).lag(components.group_id(component, params),
                                       components.input_topics(component, params))

    def assigned(self, config: LabConfig, component: str, params: ComponentParams) -> bool:
        return group_ready(self._probe(config), components.group_id(component, params),
                           components.input_topics(component, params))


PLAN = KafkaPlan()
