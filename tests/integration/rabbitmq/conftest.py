"""Session fixture: one real 3-node RabbitMQ cluster for the RabbitMQ tests, sharing nothing
with the Kafka fixture: its own folder (.run/test-rabbitmq-<port>), its own ports (AMQP
25672-25674 unless KAFKALAB_RABBITMQ_TEST_BASE_PORT says otherwise), its own epmd and cookie.
The user's lab cluster on 5672 is not disturbed."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster
from kafkalab.transports.rabbitmq.settings import ENV_BASE_PORT, ENV_DIR, RabbitConfig, default_management_port

ROOT = Path(__file__).resolve().parents[3]
TEST_BASE_PORT = int(os.environ.get("KAFKALAB_RABBITMQ_TEST_BASE_PORT", "25672"))


@pytest.fixture(scope="session")
def rabbit_cluster() -> LocalRabbitCluster:
    config = RabbitConfig(run_dir=ROOT / ".run" / f"test-rabbitmq-{TEST_BASE_PORT}", base_port=TEST_BASE_PORT,
                          management_base_port=default_management_port(TEST_BASE_PORT))
    cluster = LocalRabbitCluster(config, echo=lambda msg: print(f"[rabbitmq] {msg}"))
    cluster.down()
    cluster.wipe()
    try:
        cluster.up_seconds = cluster.up()
    except BaseException:
        cluster.down()  # a node that did start must not outlive the session
        raise
    # Subprocesses (the CLI, components) find the test cluster through the environment.
    saved = {name: os.environ.get(name) for name in (ENV_BASE_PORT, ENV_DIR)}
    os.environ[ENV_BASE_PORT], os.environ[ENV_DIR] = str(TEST_BASE_PORT), str(config.run_dir)
    try:
        yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        cluster.down()
        assert not any(n.running for n in cluster.nodes())


@pytest.fixture
def all_nodes_up(rabbit_cluster):
    """Every node running and clustered before (and after) a test that stops nodes."""
    rabbit_cluster.up()
    yield rabbit_cluster
    rabbit_cluster.up()


@pytest.fixture
def unique_name(request):
    def make(prefix: str) -> str:
        test = request.node.name.replace("[", "-").replace("]", "")[:30]
        return f"{prefix}-{test}-{uuid.uuid4().hex[:6]}"

    return make
