"""The Kafka generator's producer settings per rate (the simulation is tested in tests/unit/core)."""

from __future__ import annotations

from kafkalab.transports.kafka.generator import SEND_AT_ONCE_BELOW_HZ, rate_producer_defaults


def test_paced_generators_send_at_once_and_fast_ones_batch():
    assert rate_producer_defaults(10.0) == rate_producer_defaults(SEND_AT_ONCE_BELOW_HZ) == {"linger.ms": 0}
    assert rate_producer_defaults(1000.0) == {} and rate_producer_defaults(0.0) == {}  # 0 = as fast as possible
