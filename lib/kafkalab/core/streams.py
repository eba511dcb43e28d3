"""The application's streams: one name per flow of records, and the message type it carries.

Every transport names its topics, exchanges, queues or sockets after these, so a record's
stream is the same word on Kafka, RabbitMQ and ZeroMQ. Dead letters carry whatever could not
be decoded or validated, so they have no message type.
"""

from __future__ import annotations

from kafkalab.core.models import BookFeatures, Candle, OrderBook, Record, Trade

TRADES = "trades"
ORDERBOOKS = "orderbooks"
CANDLES = "candles"
BOOK_FEATURES = "book-features"
DEAD_LETTERS = "dead-letters"

STREAM_TYPES: dict[str, type[Record]] = {
    TRADES: Trade,
    ORDERBOOKS: OrderBook,
    CANDLES: Candle,
    BOOK_FEATURES: BookFeatures,
}

STREAMS: tuple[str, ...] = (*STREAM_TYPES, DEAD_LETTERS)
