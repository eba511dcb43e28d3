"""Where a proxied node's proxy and the toxiproxy API listen (the proxy itself is exercised on real
brokers in tests/integration/kafka/test_network_faults.py)."""

from dataclasses import replace

from kafkalab import config as lab_config
from kafkalab.transports.kafka import proxied
from kafkalab.transports.kafka.cluster import LocalCluster


def test_proxy_and_api_ports_clear_every_node_port(tmp_path):
    base = lab_config.load({lab_config.ENV_HOME: str(tmp_path)}).cluster
    for base_port in (9092, 29092, 39192):
        cluster = LocalCluster(replace(base, base_port=base_port), echo=lambda _: None)
        nodes = {port for n in cluster.config.node_ids
                 for port in (cluster.config.broker_port(n), cluster.config.controller_port(n))}
        ours = {proxied.api_port(cluster), *(proxied.proxy_port(cluster, n) for n in cluster.config.node_ids)}
        assert len(ours) == 1 + cluster.config.node_count and not ours & nodes


def test_the_toxiproxy_binary_defaults_to_the_project_cache(tmp_path):
    cfg = lab_config.load({lab_config.ENV_HOME: str(tmp_path)}).cluster
    assert cfg.toxiproxy == tmp_path / ".cache" / "toxiproxy" / lab_config.TOXIPROXY_VERSION / "server"
    moved = lab_config.load({lab_config.ENV_HOME: str(tmp_path), lab_config.ENV_TOXIPROXY: str(tmp_path / "tp")})
    assert moved.cluster.toxiproxy == tmp_path / "tp"
