"""Session fixtures: one real 3-node Kafka cluster for the whole test run.

The cluster runs from its own folder (.run/test-cluster) on its own ports (19092,
19094, 19096 unless KAFKALAB_TEST_BASE_PORT says otherwise) so a lab cluster the
user has running on 9092 is not disturbed. With KAFKA_BOOTSTRAP_SERVERS set, tests use
that cluster instead, and the tests that stop brokers are skipped.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from kafkalab import config as lab_config
from kafkalab.transports.kafka.clients import delete_topics, ensure_topics
from kafkalab.transports.kafka.cluster import LocalCluster
from kafkalab.transports.kafka.topics import TopicSpec

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class TestCluster:
    bootstrap_servers: str
    manager: LocalCluster | None  # None when the cluster is not ours to stop

    def require_manager(self) -> LocalCluster:
        if self.manager is None:
            pytest.skip("uses an external cluster (KAFKA_BOOTSTRAP_SERVERS); cannot stop its brokers")
        return self.manager


@pytest.fixture(scope="session")
def kafka_cluster() -> TestCluster:
    external = os.environ.get(lab_config.ENV_BOOTSTRAP)
    if external:
        yield TestCluster(lab_config.parse_bootstrap(external), None)
        return
    base = lab_config.load().cluster
    cluster_config = replace(
        base,
        run_dir=ROOT / ".run" / f"test-cluster-{os.environ.get('KAFKALAB_TEST_BASE_PORT', '19092')}",
        base_port=int(os.environ.get("KAFKALAB_TEST_BASE_PORT", "19092")),
    )
    manager = LocalCluster(cluster_config, echo=lambda msg: print(f"[cluster] {msg}"))
    manager.down()
    manager.wipe()
    manager.up()
    # Subprocesses (papermill notebooks, the CLI) find the test cluster through the env.
    os.environ[lab_config.ENV_BOOTSTRAP] = manager.bootstrap_servers
    try:
        yield TestCluster(manager.bootstrap_servers, manager)
    finally:
        os.environ.pop(lab_config.ENV_BOOTSTRAP, None)
        manager.down()
        # `down` must leave no stray JVM behind.
        assert not any(n.running for n in manager.nodes()) and manager._stray_jvms() == []


@pytest.fixture
def bootstrap(kafka_cluster) -> str:
    return kafka_cluster.bootstrap_servers


@pytest.fixture
def unique_name(request):
    """A fresh name per call: topic and group names never collide between tests."""

    def make(prefix: str) -> str:
        test = request.node.name.replace("[", "-").replace("]", "")[:40]
        return f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def new_topic(bootstrap, unique_name):
    """Create fresh topics (RF 3, min ISR 2 by default); deleted after the test."""
    created: list[str] = []

    def make(partitions: int = 3, replication_factor: int = 3, prefix: str = "t", **configs) -> str:
        spec = TopicSpec(unique_name(prefix), partitions, replication_factor, {k.replace("_", "."): str(v) for k, v in configs.items()})
        ensure_topics(bootstrap, [spec])
        created.append(spec.name)
        return spec.name

    yield make
    if created:
        try:
            delete_topics(bootstrap, created)
        except Exception:  # a test that left a broker down must not hide its own failure
            pass


@pytest.fixture
def group_id(unique_name) -> str:
    return unique_name("g")
