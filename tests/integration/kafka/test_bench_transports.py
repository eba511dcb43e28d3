"""Kafka's side of `bench transports`: the latency probe gets every record back, once."""

from __future__ import annotations

from kafkalab.transports.kafka import bench
from kafkalab.transports.kafka.clients import delete_topics


def test_latency_probe_at_10_hz_reads_back_every_record_it_sent(bootstrap):
    topic = bench.bench_topic(bootstrap)
    try:
        values = bench.latency_ms(bootstrap, topic, 10, 20)
    finally:
        delete_topics(bootstrap, [topic])
    assert len(values) == 20, values
    assert all(value > 0 for value in values), values
    assert bench.percentile(values, 50) <= bench.percentile(values, 99)
