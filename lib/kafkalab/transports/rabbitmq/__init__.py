"""The application over RabbitMQ: exchanges push to quorum queues, competing consumers ack.

Guarantee: at-least-once delivery with idempotent sinks, so acknowledged = stored and no
duplicate row. Producers use publisher confirms (asynchronous, a window of messages in
flight); the processor acks a record once the output it went into is confirmed; the sinks
ack once the row is on disk and drop rows whose key they already hold.
"""
