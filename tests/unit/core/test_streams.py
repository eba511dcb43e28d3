"""Stream names are declared once: the Kafka topics are named after them."""

from __future__ import annotations

from kafkalab.core import streams
from kafkalab.core.models import BookFeatures, Candle, OrderBook, Trade
from kafkalab.transports.kafka.topics import TOPICS


def test_every_stream_has_its_message_type_and_a_kafka_topic():
    assert streams.STREAM_TYPES == {"trades": Trade, "orderbooks": OrderBook, "candles": Candle,
                                    "book-features": BookFeatures}
    assert streams.STREAMS == ("trades", "orderbooks", "candles", "book-features", "dead-letters")
    assert {spec.name for spec in TOPICS} == set(streams.STREAMS)
