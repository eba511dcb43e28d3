"""The application over ZeroMQ: a brokerless pipeline of sockets (Part 3, second pattern).

Sockets per edge
----------------
    trade-generator     XPUB bind  trades         --> SUB connect: market-processor, trades-sink
    orderbook-generator XPUB bind  orderbooks     --> SUB connect: market-processor
    market-processor    XPUB bind  candles        --> SUB connect: candles-sink
                        XPUB bind  book-features  --> SUB connect: candles-sink

Publish/subscribe on every edge: `trades` is read by two components (the processor and
the trades sink), which PUSH/PULL cannot do (PUSH deals each message to ONE puller: load
balancing, not fan-out). The producer of a stream binds its endpoint (a stable address
per stream) and its readers connect, so consumers can start first and any one of them
can restart without the others noticing. XPUB instead of PUB: the producer hears
subscriptions, waits (bounded) for the stream's expected readers before its first
message, and shows the live count in its counters. Endpoints are declared once
(addresses.py: 127.0.0.1:5561-5564 locally, service names in docker-compose.zeromq.yml,
ipc:// in the tests), overridden by KAFKALAB_ZMQ_ENDPOINTS.

High-water marks (KAFKALAB_ZMQ_HWM, default 100,000 messages per socket and peer)
- XPUB (send side): at the mark for one subscriber, messages to THAT subscriber are
  dropped; the producer never blocks and the other subscribers are not affected.
- SUB (receive side): at the mark ZeroMQ stops reading the TCP connection; the
  publisher's queue for it then fills and the publisher drops.
Nothing blocks anywhere, so a slow or dead consumer never slows a producer: the price is
loss, and the loss is counted.

Guarantees (honest): at-most-once
- No persistence, no acknowledgements, no replay: a message sent while a consumer is
  down, slow or not yet subscribed is gone.
- Per-producer sequence numbers: every message carries its producer id (unique per
  process start) and a sequence from 1 (sockets.py has the wire format). Every consumer
  counts gaps (messages that never arrived) and duplicates (dropped) per (stream,
  producer) with kafkalab.core.sequence, and reports them in its counters (widgets),
  its summary line and results/data/zeromq_stats.csv. A loss is never silent.
- The sinks resume their sequence per producer from the `position` column of their CSV
  ("producer:sequence"), so after a kill -9 and a restart the gap they count is exactly
  what was sent while they were away, and nothing is written twice.
- The processor keeps its windows in memory: a killed processor loses its open windows.
  It never passes a partial window off as complete: a window that a gap may have
  touched is dropped and counted (`incomplete_windows`), not emitted.
- The one loss no sequence shows: the last messages of a producer killed before its
  I/O thread wrote them to the socket (no later message reveals the hole). A clean stop
  flushes them (publishers close with a linger).
- Bad input (foreign frames, an undecodable payload, the wrong message type, a late
  record): dropped with a counted one-line reason; the component keeps running.
"""
