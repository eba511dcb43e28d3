"""The real three-node cluster: metadata, replication settings, delivery, broker loss."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest
from confluent_kafka.admin import ConfigResource, ResourceType

from kafkalab import config as lab_config
from kafkalab.transports.kafka.clients import (KafkaUnavailable, admin, describe_cluster, describe_partitions, producer, read_messages,
                              wait_for_full_isr)


class Acked:
    """Collects what the brokers acknowledged, from delivery callbacks."""

    def __init__(self):
        self.records: list[tuple[bytes, bytes, int, int]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, err, msg):
        with self.lock:
            if err is None:
                self.records.append((msg.key(), msg.value(), msg.partition(), msg.offset()))
            else:
                self.errors.append(err.str())


def consume_all(bootstrap: str, topic: str, group: str, expected: int, timeout_s: float = 60.0):
    """Everything in the topic from the beginning, as (key, value, partition, offset)."""
    messages = read_messages(bootstrap, group, [topic], expected, timeout_s)
    return [(m.key(), m.value(), m.partition(), m.offset()) for m in messages]


def _wait_for_view(bootstrap: str, accept, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if accept(describe_cluster(bootstrap, timeout_s=5).broker_ids):
                return True
        except KafkaUnavailable:  # metadata may still name the dead node as controller
            pass
        time.sleep(0.5)
    return False


def wait_until_fenced(bootstrap: str, node_id: int, timeout_s: float) -> bool:
    return _wait_for_view(bootstrap, lambda ids: node_id not in ids, timeout_s)


def wait_for_brokers(bootstrap: str, expected: tuple[int, ...], timeout_s: float) -> bool:
    return _wait_for_view(bootstrap, lambda ids: ids == expected, timeout_s)


def test_three_brokers_and_a_controller(bootstrap):
    view = describe_cluster(bootstrap)
    assert view.broker_ids == (1, 2, 3)
    assert view.controller_id in (1, 2, 3)


def test_application_topics_have_rf3_and_min_isr2(bootstrap):
    parts = describe_partitions(bootstrap, ["trades", "candles"])
    assert parts and all(len(p.replicas) == 3 for p in parts)
    assert len([p for p in parts if p.topic == "trades"]) == 6
    resource = ConfigResource(ResourceType.TOPIC, "trades")
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    configs = client.describe_configs([resource])[resource].result()
    assert configs["min.insync.replicas"].value == "2"


def test_ten_thousand_records_with_acks_all_arrive_in_order_per_key(bootstrap, new_topic, group_id):
    topic = new_topic(partitions=3)
    acked = Acked()
    keys = [f"key-{k}".encode() for k in range(7)]
    with producer(bootstrap) as p:
        for i in range(10_000):
            key = keys[i % len(keys)]
            p.produce(topic, key=key, value=f"{key.decode()}:{i}".encode(), on_delivery=acked)
            p.poll(0)
    assert acked.errors == [] and len(acked.records) == 10_000

    seen = consume_all(bootstrap, topic, group_id, expected=10_000)
    assert len(seen) == 10_000
    assert {v for _, v, _, _ in seen} == {v for _, v, _, _ in acked.records}
    by_key = defaultdict(list)
    for key, value, _, _ in seen:
        by_key[key].append(int(value.split(b":")[1]))
    for key, sequence in by_key.items():
        assert sequence == sorted(sequence), f"{key!r} out of order"
        assert len({p for k, _, p, _ in seen if k == key}) == 1, "one key must stay in one partition"


@pytest.mark.slow
@pytest.mark.parametrize("kill", [False, True], ids=["graceful", "kill-9"])
def test_losing_a_broker_mid_run_loses_no_acknowledged_record(kafka_cluster, new_topic, group_id, kill):
    manager = kafka_cluster.require_manager()
    bootstrap = kafka_cluster.bootstrap_servers
    topic = new_topic(partitions=3)
    victim = 2 if not kill else 3
    acked = Acked()
    stop = threading.Event()
    sent = 0

    def produce_steadily():
        nonlocal sent
        with producer(bootstrap, linger_ms=2) as p:
            while not stop.is_set():
                p.produce(topic, key=str(sent % 11).encode(), value=str(sent).encode(), on_delivery=acked)
                sent += 1
                p.poll(0.002)

    writer = threading.Thread(target=produce_steadily)
    writer.start()
    try:
        time.sleep(2)
        manager.stop_broker(victim, kill=kill)
        if kill:  # status believes the process table at once, before Kafka's session timeout
            out = _cli_status(manager)
            assert out.returncode == 0, out.stderr
            status = out.stdout
            assert f"node {victim}  127.0.0.1:{manager.config.broker_port(victim)}  stopped" in status
            assert f"leader  {victim}  " not in status, "a dead leader must be marked down"
            brokers = status.split("brokers ")[1].split("]")[0]
            assert str(victim) not in brokers, status
        # keep producing until the cluster has fenced the lost broker (a kill -9 is
        # noticed after broker.session.timeout.ms), then a little longer
        assert wait_until_fenced(bootstrap, victim, timeout_s=60)
        time.sleep(2)
    finally:
        manager.start_broker(victim)
        stop.set()
        writer.join(timeout=120)
    assert not writer.is_alive()
    assert acked.errors == [], acked.errors[:3]
    assert len(acked.records) == sent > 1000

    seen = consume_all(bootstrap, topic, group_id, expected=len(acked.records))
    values = [v for _, v, _, _ in seen]
    assert len(values) == len(set(values)), "duplicates despite the idempotent producer"
    assert {v for _, v, _, _ in acked.records} <= set(values), "an acknowledged record was lost"

    # the broker rejoins (registered and unfenced) and its replicas catch up again
    assert wait_for_brokers(bootstrap, (1, 2, 3), timeout_s=90)
    wait_for_full_isr(bootstrap, [topic, "trades"], timeout_s=90)


def _cli_status(manager, pipe_to: str = "") -> subprocess.CompletedProcess:
    """`kafkalab cluster status` against the test cluster (optionally piped into a shell command)."""
    env = {
        **os.environ,
        lab_config.ENV_BASE_PORT: str(manager.config.base_port),
        lab_config.ENV_CLUSTER_DIR: str(manager.config.run_dir),
    }
    env.pop(lab_config.ENV_BOOTSTRAP, None)
    command = f"{sys.executable} -m kafkalab.cli cluster status"
    return subprocess.run(f"{command} | {pipe_to}" if pipe_to else command, shell=True,
                          env=env, capture_output=True, text=True, timeout=60)


def test_cli_status_shows_three_brokers_and_partitions(kafka_cluster):
    manager = kafka_cluster.require_manager()
    assert wait_for_brokers(kafka_cluster.bootstrap_servers, (1, 2, 3), timeout_s=90)
    out = _cli_status(manager)
    assert out.returncode == 0, out.stderr
    assert "brokers [1, 2, 3]" in out.stdout
    assert out.stdout.count("running (pid") == 3
    assert "trades" in out.stdout and "isr [" in out.stdout
    assert "UNDER-REPLICATED" not in out.stdout and "down" not in out.stdout

    head = _cli_status(manager, pipe_to="head -n 1")  # the reader closes the pipe early
    assert head.stdout.startswith("node 1") and len(head.stdout.splitlines()) == 1
    assert "Traceback" not in head.stderr and "BrokenPipe" not in head.stderr, head.stderr


def test_cli_reports_an_unreachable_cluster_in_one_line():
    env = {**os.environ, lab_config.ENV_BOOTSTRAP: "127.0.0.1:1"}
    out = subprocess.run(
        [sys.executable, "-m", "kafkalab.cli", "topics", "list", "--wait", "2"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Kafka at 127.0.0.1:1")
