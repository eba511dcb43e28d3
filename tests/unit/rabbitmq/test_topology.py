"""The topology declared once: every stream reaches its consumers, shards cover every instance."""

import pytest

from kafkalab.transports.rabbitmq.topology import (
    CONSUMER_QUEUES, DEAD_LETTER_QUEUE, PROCESSOR_SHARDS, QUEUES, QUEUES_BY_NAME, shards_of)


def test_every_queue_is_a_quorum_queue_on_three_nodes_with_dead_letters():
    for queue in QUEUES:
        args = queue.arguments()
        assert args["x-queue-type"] == "quorum" and args["x-quorum-initial-group-size"] == 3
        if queue.name != DEAD_LETTER_QUEUE:
            assert args["x-dead-letter-exchange"] == "lab.dead-letters" and args["x-delivery-limit"] > 0


def test_processor_shards_keep_one_active_consumer_each():
    shard_queues = CONSUMER_QUEUES["market-processor"]
    assert len(shard_queues) == PROCESSOR_SHARDS
    assert all(QUEUES_BY_NAME[q].arguments()["x-single-active-consumer"] for q in shard_queues)


@pytest.mark.parametrize("instances", [1, 2, 3])
def test_shards_split_over_instances_without_overlap(instances):
    taken = [s for i in range(instances) for s in shards_of(i, instances)]
    assert sorted(taken) == list(range(PROCESSOR_SHARDS))


def test_sinks_read_the_streams_they_write():
    keys = {q.name: {key for _, key in q.bindings} for q in QUEUES}
    assert keys["sink.trades"] == {"trades.*"}
    assert keys["sink.candles"] == {"candles.*", "book-features.*"}
