"""A message a consumer cannot read goes to `lab.dead-letters` with its reason in a header;
the original is acked only once the dead letter is confirmed, and the consumer keeps running."""

from __future__ import annotations

import logging

from kafkalab.transports.rabbitmq.clients import Delivery, Session
from kafkalab.transports.rabbitmq.topology import DEAD_LETTER_EXCHANGE, REASON_HEADER

log = logging.getLogger(__name__)
MAX_REASON = 300


def dead_letter(session: Session, delivery: Delivery, reason: str, consumer: str) -> int:
    """Publish `delivery` with its reason; returns the publish sequence to await."""
    headers = {**delivery.headers, REASON_HEADER: reason[:MAX_REASON],
               "x-original-routing-key": delivery.routing_key, "x-consumer": consumer}
    log.warning("%s: dead-lettered a message from %s: %s", consumer, delivery.routing_key, reason)
    return session.publish(DEAD_LETTER_EXCHANGE, delivery.routing_key, delivery.body, headers)
