"""Fixtures the Kafka integration tests share (the session's cluster is in tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

from kafkalab.pipeline.plan import private_plan
from kafkalab.transports.kafka.clients import delete_topics


@pytest.fixture
def tag(bootstrap):
    """A private plan's name prefix; its topics are deleted afterwards."""
    tag = f"plan-{uuid.uuid4().hex[:8]}"
    yield tag
    try:
        delete_topics(bootstrap, list(private_plan(tag, 0).shared_params.streams.values()))
    except Exception:  # a topic the test never created, or a cluster already gone
        pass
