"""RabbitMQ's side of `bench transports`: every row of the contract, with what the publisher
and the three nodes cost while one publisher sends as fast as confirms allow."""

from __future__ import annotations

import os

import pytest

from kafkalab import config as lab_config
from kafkalab.transports.rabbitmq import bench


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_measure_reports_rates_latencies_and_what_the_publisher_and_the_nodes_cost(rabbit_cluster, tmp_path):
    rows = {(r["metric"], r.get("rate_hz")): r for r in bench.measure(lab_config.load(results_dir=tmp_path), True)}
    assert set(rows) == {("publish_rate_max", None), ("publisher_cpu_pct", None), ("broker_cpu_pct", None),
                         ("broker_rss_mib", None), ("latency_p50_ms", 10), ("latency_p99_ms", 10),
                         ("latency_p50_ms", 1000), ("latency_p99_ms", 1000)}
    assert all(r["durability"] == bench.DURABILITY and r["transport"] == "rabbitmq" for r in rows.values())
    assert rows[("publish_rate_max", None)]["value"] > 0
    assert 0 < rows[("publisher_cpu_pct", None)]["value"] < 100 * os.cpu_count() + 1
    assert 0 < rows[("broker_cpu_pct", None)]["value"] < 100 * os.cpu_count() + 1
    assert rows[("broker_cpu_pct", None)]["nodes"] == 3 and rows[("broker_rss_mib", None)]["value"] > 3 * 50
    for rate in (10, 1000):
        assert rows[("latency_p50_ms", rate)]["messages"] == rate * (10 if rate == 10 else 3)
        assert 0 < rows[("latency_p50_ms", rate)]["value"] <= rows[("latency_p99_ms", rate)]["value"]
