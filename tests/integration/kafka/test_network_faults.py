"""Network faults while the whole pipeline runs: a broker partitioned away, packet loss, latency.

The same scenarios as `kafkalab bench reliability` (kafkalab.bench.reliability.scenarios),
made with nftables on the loopback device (kafkalab.runtime.netfaults). They need root,
nft and a cgroup2 mount, and skip with the reason elsewhere; CI is root and has them. The
added latency needs toxiproxy-server (built by .ci/run; KAFKALAB_TOXIPROXY) and no root.

Invariants as for broker loss (test_broker_loss.check): every acknowledged trade stored
exactly once, every candle equal to the one recomputed from trades.csv, no component
failed; and the cluster is whole again once the fault is healed.
"""

from __future__ import annotations

import pytest

from kafkalab import config as lab_config
from kafkalab.bench.reliability.scenarios import run_scenario
from kafkalab.runtime import netfaults, toxiproxy
from kafkalab.transports.kafka import clients
from tests.integration.kafka.test_broker_loss import TRADE_RATE_HZ, check

# The benchmark holds each fault 30 s. A partition lasts at least PARTITION_S and in any case until
# the cluster has fenced the cut-off broker (out of every ISR, its leaderships moved: ~9 s);
# loss and latency need no takeover: LOSS_S and LATENCY_S of them (thousands of records) suffice.
PARTITION_S = 5.0
LOSS_S = 10.0
LATENCY_S = 10.0
ACK_PAUSE_BOUND_S = 60.0  # after a partition, acknowledgements resume within this

NO_FAULTS_HERE = netfaults.unavailable()  # asked once: it runs nft
NO_TOXIPROXY_HERE = toxiproxy.unavailable(lab_config.load().cluster.toxiproxy)
needs_nft = pytest.mark.skipif(NO_FAULTS_HERE is not None, reason=str(NO_FAULTS_HERE))
needs_toxiproxy = pytest.mark.skipif(NO_TOXIPROXY_HERE is not None, reason=str(NO_TOXIPROXY_HERE))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@needs_nft
def test_the_leader_of_the_trades_partitions_is_partitioned_away_then_healed(kafka_cluster, tmp_path):
    cluster = kafka_cluster.require_manager()
    result = run_scenario(cluster, "partition-leader", tmp_path, trade_rate_hz=TRADE_RATE_HZ, down_s=PARTITION_S)
    check(result)
    assert result.packets_dropped > 0, "the partition dropped no packet: the rules matched nothing"
    # the partitions it led stalled until the others took them over: a pause, but a bounded one
    assert 0 < result.ack_resume_s < ACK_PAUSE_BOUND_S, result
    assert result.isr_full_s >= 0 and all(node.running for node in cluster.nodes())


@needs_nft
def test_five_percent_packet_loss_on_one_broker_loses_nothing(kafka_cluster, tmp_path):
    cluster = kafka_cluster.require_manager()
    result = run_scenario(cluster, "loss-5pct", tmp_path, trade_rate_hz=TRADE_RATE_HZ, down_s=LOSS_S)
    check(result)
    assert result.packets_dropped > 0, "no packet was lost: the rules matched nothing"
    assert all(node.running for node in cluster.nodes())


@needs_toxiproxy
def test_100ms_added_latency_on_one_broker_loses_nothing_and_is_real(kafka_cluster, tmp_path):
    cluster = kafka_cluster.require_manager()
    result = run_scenario(cluster, "latency-100ms", tmp_path, trade_rate_hz=TRADE_RATE_HZ, down_s=LATENCY_S)
    check(result)
    # the fault was real: while it lasted, acks from the slowed broker's partitions took longer than
    # the other partitions' under the same machine load (at least the added round trip, 2 x 100 ms)
    assert result.slowed_partitions > 0, "broker 2 led no trades partition: nothing measured the latency"
    assert result.ack_latency_during_ms > result.ack_latency_others_ms + 80, result
    assert all(node.running for node in cluster.nodes())
    # broker 2 advertises its own port again: the proxy is gone and the session cluster is as it was
    assert set(clients.describe_cluster(cluster.bootstrap_servers, timeout_s=10).broker_ids) == {1, 2, 3}
