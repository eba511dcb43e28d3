"""One node of a running local cluster behind a Toxiproxy proxy, for the added-latency fault.

The node is restarted (controlled shutdown) advertising the proxy's port, so clients and
its peers (inter-broker traffic uses the same PLAINTEXT listener) reach it only through
the proxy; on exit it is restarted advertising its own port again, before the proxy stops
(peers would lose it otherwise). Its KRaft controller traffic stays direct: the CONTROLLER
listener is not proxied, so a slowed node keeps its heartbeats and is not fenced.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator

from kafkalab.errors import LabError
from kafkalab.runtime import toxiproxy
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.cluster import LocalCluster

# Ports after the nodes' own: base + 20 + 2n is node n's proxy, base + 21 the toxiproxy API.
PROXY_PORT_OFFSET = 20
IN_SYNC_TIMEOUT_S = 120.0


def proxy_name(node_id: int) -> str:
    return f"kafka-node-{node_id}"


def proxy_port(cluster: LocalCluster, node_id: int) -> int:
    return cluster.config.base_port + PROXY_PORT_OFFSET + 2 * node_id


def api_port(cluster: LocalCluster) -> int:
    return cluster.config.base_port + PROXY_PORT_OFFSET + 1


@contextmanager
def behind_proxy(cluster: LocalCluster, node_id: int) -> Iterator[tuple[LocalCluster, toxiproxy.Api]]:
    """While inside: node `node_id` reached through a proxy; yields the cluster as seen through it
    (its bootstrap goes through the proxy) and the proxy's API. Restored on exit, whatever happened."""
    config = cluster.config
    with toxiproxy.server(config.toxiproxy, api_port(cluster), config.run_dir / "toxiproxy.log") as api:
        api.create_proxy(proxy_name(node_id), proxy_port(cluster, node_id), config.broker_port(node_id))
        proxied = LocalCluster(replace(config, advertised_ports=((node_id, proxy_port(cluster, node_id)),)),
                               echo=cluster.echo)
        try:
            _restart(cluster, proxied, node_id)
            yield proxied, api
        finally:
            _restart(proxied, cluster, node_id)


def _restart(current: LocalCluster, wanted: LocalCluster, node_id: int) -> None:
    """Node `node_id` stopped as `current` configured it, started as `wanted` does, leaders rebalanced."""
    current.stop_broker(node_id)
    wanted.start_broker(node_id, wait=True)
    # A replica still catching up cannot be elected: an election right after the start fails for
    # the node's partitions and is retried after a wait. Once it is in sync, one election does it.
    try:
        clients.wait_for_full_isr(wanted.bootstrap_servers, None, timeout_s=IN_SYNC_TIMEOUT_S)
    except LabError:
        pass  # the election then retries by itself and says so if it still cannot
    wanted.elect_preferred_leaders()
