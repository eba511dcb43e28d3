"""The Kafka path on Kubernetes: a Strimzi cluster, its topics and the processor's autoscaler.

Strimzi runs Kafka in KRaft mode from two resources: `Kafka` (cluster-wide settings, the
listener, the topic operator) and a `KafkaNodePool` of three nodes that are each broker and
controller, as the local cluster and the compose file run them. Every topic of the topic
table becomes a `KafkaTopic` that the topic operator creates and keeps in step.
"""

from __future__ import annotations

import re

from kafkalab.deploy.sources import LabDeclarations
from kafkalab.deploy.workloads import NAMESPACE, labels
from kafkalab.core.streams import ORDERBOOKS, TRADES
from kafkalab.transports.kafka.topics import TOPICS, TOPICS_BY_NAME, TopicSpec

CLUSTER = "kafkalab"
NODE_POOL = "dual-role"
NODE_COUNT = 3
LISTENER_PORT = 9092
# The Service Strimzi creates for clients, by its full name: KEDA's scaler runs in its own namespace.
BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap.{NAMESPACE}.svc:{LISTENER_PORT}"
STRIMZI_API = "kafka.strimzi.io/v1beta2"
BROKER_STORAGE = "10Gi"
PROCESSOR_INPUTS = (TRADES, ORDERBOOKS)
# Records waiting per processor replica before KEDA adds one. A starting value (a few
# seconds of input at a few thousand records/s), not measured on a cluster.
LAG_PER_REPLICA = 2000


def jvm_heap(heap_opts: str) -> dict:
    """-Xms512m -Xmx512m (the compose file's KAFKA_HEAP_OPTS) -> Strimzi's jvmOptions."""
    return {flag: size for flag, size in re.findall(r"(-Xm[sx])(\d+[kmgKMG])", heap_opts)}


def kafka_cluster(decl: LabDeclarations) -> list[dict]:
    cluster_label = {"strimzi.io/cluster": CLUSTER}
    kafka = {
        "apiVersion": STRIMZI_API, "kind": "Kafka",
        "metadata": {"name": CLUSTER, "labels": labels(CLUSTER, "kafka"),
                     "annotations": {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}},
        "spec": {
            "kafka": {
                "version": decl.kafka_version,
                "listeners": [{"name": "plain", "port": LISTENER_PORT, "type": "internal", "tls": False}],
                # The compose file's cluster-wide settings: RF 3, min ISR 2, no auto-created topics, ...
                "config": dict(decl.broker_settings),
                # Strimzi's own budget for the broker pods: a drain takes one node at a time, so
                # every partition keeps two in-sync replicas and acks=all writes go on.
                "template": {"podDisruptionBudget": {"maxUnavailable": 1}},
            },
            "entityOperator": {"topicOperator": {}},
        },
    }
    pool = {
        "apiVersion": STRIMZI_API, "kind": "KafkaNodePool",
        "metadata": {"name": NODE_POOL, "labels": {**labels(CLUSTER, "kafka"), **cluster_label}},
        "spec": {
            "replicas": NODE_COUNT,
            "roles": ["controller", "broker"],
            "storage": {"type": "jbod", "volumes": [{"id": 0, "type": "persistent-claim", "size": BROKER_STORAGE,
                                                     "deleteClaim": False, "kraftMetadata": "shared"}]},
            "jvmOptions": jvm_heap(decl.broker_heap),
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        },
    }
    return [kafka, pool]


def kafka_topic(spec: TopicSpec) -> dict:
    return {"apiVersion": STRIMZI_API, "kind": "KafkaTopic",
            "metadata": {"name": spec.name, "labels": {**labels(spec.name, "topic"), "strimzi.io/cluster": CLUSTER}},
            "spec": {"topicName": spec.name, "partitions": spec.partitions, "replicas": spec.replication_factor,
                     "config": spec.all_configs()}}


def kafka_topics() -> list[dict]:
    return [kafka_topic(spec) for spec in TOPICS]


def max_processor_replicas() -> int:
    """A consumer group gives each partition to one member: past this count a replica idles."""
    return min(TOPICS_BY_NAME[name].partitions for name in PROCESSOR_INPUTS)


def processor_autoscaler(processor: str, group_id: str) -> dict:
    """KEDA scales the processor's StatefulSet on its consumer group's lag, per input topic
    (the autoscaler takes the larger demand), from one replica up to the partition count."""
    triggers = [{"type": "kafka", "metadata": {
        "bootstrapServers": BOOTSTRAP, "consumerGroup": group_id, "topic": topic,
        "lagThreshold": str(LAG_PER_REPLICA), "offsetResetPolicy": "earliest",
        # Never report more demand than partitions: an idle member only adds rebalances.
        "allowIdleConsumers": "false"}} for topic in PROCESSOR_INPUTS]
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": processor, "labels": labels(processor, "processor")},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": processor},
            # Never to zero: a scaled-in group rebalances, and a cold start re-reads its windows.
            "minReplicaCount": 1,
            "maxReplicaCount": max_processor_replicas(),
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            # One replica less per minute at most: every scale-in is a rebalance of the group.
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                "stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}},
            "triggers": triggers,
        },
    }
