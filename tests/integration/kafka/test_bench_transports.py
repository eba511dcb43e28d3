"""Kafka's side of `bench transports`: the latency probe gets every record back, once; the
publisher's and the brokers' costs are sampled; a trades sink killed mid-run loses and doubles
nothing; a rung of the sustained-rate ladder counts and times what the whole pipeline stored."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from kafkalab import config as lab_config
from kafkalab.bench.transports import REACHED_SHARE, loss_under_consumer_kill, run_rung
from kafkalab.transports.kafka import bench
from kafkalab.transports.kafka.clients import delete_topics
from helpers import assert_nothing_lost_after_one_kill


def test_latency_probe_at_10_hz_reads_back_every_record_it_sent(bootstrap):
    topic = bench.bench_topic(bootstrap)
    try:
        values = bench.latency_ms(bootstrap, topic, 10, 20)
    finally:
        delete_topics(bootstrap, [topic])
    assert len(values) == 20, values
    assert all(value > 0 for value in values), values
    assert bench.percentile(values, 50) <= bench.percentile(values, 99)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_trades_sink_killed_mid_run_loses_and_doubles_nothing(bootstrap, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=tmp_path)
    rows = loss_under_consumer_kill(config, "kafka", bench.DURABILITY, quick=True, seconds=6.0)
    assert_nothing_lost_after_one_kill(rows, "kafka")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_measure_reports_what_the_publisher_and_each_broker_cost(kafka_cluster, tmp_path):
    manager = kafka_cluster.require_manager()  # the brokers must be local processes to be sampled
    config = replace(lab_config.load(bootstrap_servers=manager.bootstrap_servers, results_dir=tmp_path),
                     cluster=manager.config)
    rows = {(r["metric"], r.get("rate_hz")): r for r in bench.measure(config, quick=True)}
    assert rows[("publish_rate_max", None)]["value"] > 0
    # the client's own threads (librdkafka's included) and three JVMs did the work
    assert 0 < rows[("publisher_cpu_pct", None)]["value"] < 100 * os.cpu_count() + 1
    assert 0 < rows[("broker_cpu_pct", None)]["value"] < 100 * os.cpu_count() + 1
    assert rows[("broker_cpu_pct", None)]["nodes"] == 3
    assert 3 * 100 < rows[("broker_rss_mib", None)]["value"] < 3 * 2048  # three JVMs of 512 MiB heap
    assert rows[("latency_p50_ms", 10)]["value"] <= rows[("latency_p99_ms", 10)]["value"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_rung_of_the_sustained_ladder_stores_every_acknowledged_trade_and_times_both_outputs(bootstrap, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=tmp_path)
    rung = run_rung(config, "kafka", 500, 4.0)
    assert rung.stored == rung.sent >= 0.9 * 500 * 4, rung  # the generator's acked count, read from its output
    assert rung.reached_hz >= REACHED_SHARE * 500, rung
    # both delays were measured on rows after the warm-up (NaN when none were left)
    assert 0 < rung.trades_p99_s < 60 and 0 < rung.candles_p99_s < 60, rung
