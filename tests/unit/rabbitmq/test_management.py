"""Reading GET /api/queues: a count the broker has not reported yet is unknown, never 0."""

from kafkalab.transports.rabbitmq.management import queue_view

# A quorum queue seconds after it was declared, as RabbitMQ 3.10's management API returns it:
# the message counts come with the queue's first statistics tick (seen here after about 9 s).
FRESH = {"name": "processor.input", "type": "quorum", "leader": "kl1@localhost",
         "members": ["kl1@localhost", "kl2@localhost", "kl3@localhost"], "online": ["kl1@localhost"],
         "messages": None, "messages_unacknowledged": None, "consumers": 1}


def test_a_queue_without_statistics_yet_has_unknown_counts():
    view = queue_view(FRESH)
    assert view.messages is None and view.messages_unacked is None
    assert view.members == ("kl1@localhost", "kl2@localhost", "kl3@localhost") and view.consumers == 1


def test_reported_counts_are_kept_including_zero():
    view = queue_view({**FRESH, "messages": 0, "messages_unacknowledged": 7})
    assert view.messages == 0 and view.messages_unacked == 7


def test_a_classic_queue_names_its_node_as_leader_and_member():
    view = queue_view({"name": "q", "node": "kl2@localhost", "messages": 3})
    assert (view.type, view.leader, view.members, view.messages_unacked) == ("classic", "kl2@localhost",
                                                                             ("kl2@localhost",), None)
