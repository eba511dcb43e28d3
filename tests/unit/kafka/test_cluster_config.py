"""The local cluster's generated configuration, and failures that need no running broker."""

import socket
from dataclasses import replace

import pytest

from kafkalab import config as lab_config
from kafkalab.transports.kafka.clients import KafkaUnavailable, describe_cluster
from kafkalab.transports.kafka.cluster import LocalCluster
from kafkalab.errors import ClusterError
from kafkalab.transports.kafka.topics import TOPICS


def _cluster(tmp_path, **changes) -> LocalCluster:
    base = lab_config.load({lab_config.ENV_HOME: str(tmp_path)}).cluster
    return LocalCluster(replace(base, **changes), echo=lambda _: None)


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_server_properties_are_kraft_combined_on_loopback(tmp_path):
    cluster = _cluster(tmp_path)
    all_props = [_props(cluster._server_properties(n)) for n in (1, 2, 3)]
    assert {p["node.id"] for p in all_props} == {"1", "2", "3"}
    voters = {p["controller.quorum.voters"] for p in all_props}
    assert voters == {"1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"}
    for n, p in enumerate(all_props, start=1):
        assert p["process.roles"] == "broker,controller"
        port = 9092 + 2 * (n - 1)
        assert p["listeners"] == f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}"
        assert p["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{port}"
        assert p["min.insync.replicas"] == "2"
        assert p["auto.create.topics.enable"] == "false"
        assert str(tmp_path) in p["log.dirs"]


def test_topics_are_replicated_three_times_with_min_isr_two():
    assert {t.name for t in TOPICS} == {"trades", "orderbooks", "candles", "book-features", "dead-letters"}
    for spec in TOPICS:
        assert spec.replication_factor == 3
        assert spec.all_configs()["min.insync.replicas"] == "2"


def test_port_taken_fails_fast_with_the_port_and_the_fix(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        from kafkalab.transports.kafka.cluster import _require_free_port

        with pytest.raises(ClusterError) as err:
            _require_free_port(port)
    assert f"port {port}" in str(err.value) and "KAFKALAB_BASE_PORT" in str(err.value)


def test_unknown_node_is_refused(tmp_path):
    with pytest.raises(ClusterError, match="there is no node 7"):
        _cluster(tmp_path).stop_broker(7)


def test_unreachable_bootstrap_fails_within_its_bound():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KafkaUnavailable) as err:
        describe_cluster(f"127.0.0.1:{port}", timeout_s=2.0)
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "kafkalab cluster up" in message and "\n" not in message


def test_a_node_behind_a_proxy_listens_on_its_port_and_advertises_the_proxys(tmp_path):
    cluster = _cluster(tmp_path, advertised_ports=((2, 9200),))
    props = _props(cluster._server_properties(2))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9200"
    assert _props(cluster._server_properties(1))["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    # bootstrapping straight to node 2 would bypass its proxy
    assert cluster.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9200,127.0.0.1:9096"
