"""The local three-node RabbitMQ cluster: formed, replicated, survives kill -9 of a node."""

from __future__ import annotations

import subprocess
import sys

import pika
import psutil
import pytest

from helpers import wait_for


def _declare_quorum_queue(cluster, name: str) -> None:
    with pika.BlockingConnection(pika.URLParameters(cluster.urls()[0])) as connection:
        connection.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})


def _queue(cluster, name: str, node_id: int = 1):
    return next(q for q in cluster.management(node_id).queues() if q.name == name)


def test_up_forms_a_three_node_cluster_on_loopback_only(rabbit_cluster):
    names = {n.name for n in rabbit_cluster.nodes()}
    assert len(names) == 3 and all(n.running for n in rabbit_cluster.nodes())
    assert rabbit_cluster.cluster_members() == names
    print(f"cluster up in {rabbit_cluster.up_seconds:.1f} s")
    users = [u["name"] for u in rabbit_cluster.management().get("/users")]
    assert users == ["kafkalab"]  # no guest
    # The sockets themselves (the management API reports "::" for a listener bound to 127.0.0.1).
    for node in rabbit_cluster.nodes():
        listening = [c.laddr for c in psutil.Process(node.pid).net_connections("inet") if c.status == "LISTEN"]
        assert len(listening) >= 3 and all(addr.ip == "127.0.0.1" for addr in listening), listening


def test_quorum_queue_has_a_member_on_every_node(rabbit_cluster, unique_name):
    name = unique_name("q")
    _declare_quorum_queue(rabbit_cluster, name)
    queue = _queue(rabbit_cluster, name)
    assert queue.type == "quorum"
    assert set(queue.members) == {n.name for n in rabbit_cluster.nodes()}


@pytest.mark.slow
def test_a_killed_node_rejoins_and_its_replica_catches_up(all_nodes_up, unique_name):
    cluster = all_nodes_up
    name = unique_name("q")
    _declare_quorum_queue(cluster, name)
    cluster.stop_node(3, kill=True)
    assert not cluster.nodes()[2].running
    with pika.BlockingConnection(pika.URLParameters(cluster.urls()[0])) as connection:
        channel = connection.channel()
        channel.confirm_delivery()  # a quorum of two nodes still confirms
        for i in range(20):
            channel.basic_publish("", name, str(i).encode(), pika.BasicProperties(delivery_mode=2))
    cluster.start_node(3)
    assert cluster.nodes()[2].name in cluster.cluster_members()
    # The management view's counts are statistics, emitted every few seconds: wait for them to settle.
    queue = wait_for(lambda: (q := _queue(cluster, name, node_id=3)) and len(q.online) == 3 and (q.messages or 0) >= 20 and q,
                     120, "the restarted node's replica back online with the 20 messages")
    assert queue.messages == 20


def test_status_lists_nodes_and_queues(rabbit_cluster, unique_name):
    name = unique_name("q")
    _declare_quorum_queue(rabbit_cluster, name)
    done = subprocess.run([sys.executable, "-m", "kafkalab.transports.rabbitmq.cli", "status"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("in cluster") == 3
    line = next(line for line in done.stdout.splitlines() if name in line)
    assert "quorum" in line and "members" in line
