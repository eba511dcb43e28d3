"""Bad input over real sockets: dropped with a counted one-line reason; the consumer goes on."""

from __future__ import annotations

from kafkalab.core import serde
from kafkalab.core.models import Candle, Trade, now_us
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.processor import ZmqMarketProcessor
from kafkalab.transports.zeromq.sink import trades_sink
from kafkalab.transports.zeromq.sockets import meta_block, pack
from kafkalab.transports.zeromq.streams import StreamPublisher

from helpers import read_rows, wait_for


def trade(trade_id: int, event_ts_us: int) -> Trade:
    return Trade("AAPL", trade_id, 190.0, 10.0, "buy", event_ts_us, event_ts_us)


def test_sink_drops_foreign_frames_bad_payloads_and_wrong_types_then_writes_the_next_trade(lab, zmq_settings, running):
    sink = running(trades_sink(lab, zmq_settings=zmq_settings))
    with sockets.context() as ctx, sockets.publisher(ctx, zmq_settings.bind_address("trades"), 1000) as sock:
        publisher = StreamPublisher(sock, "trades", "test-producer.0.1", "msgpack")
        assert publisher.wait_for_subscribers(1, 30, lambda: False)
        _, headers = serde.encode(trade(1, now_us()), "msgpack")
        sock.send(b"trades\0not an envelope")  # foreign bytes on our topic
        publisher.sequence += 1  # a valid envelope around bytes that are no msgpack trade
        sock.send(pack("trades", publisher.sequence, meta_block(publisher.producer, headers), b"\xc1\xc1garbage"))
        publisher.send(trade(2, now_us()))
        publisher.send(_candle())  # the wrong message type for the stream
        publisher.send(trade(3, now_us()))
        wait_for(lambda: sink.component.counters["written"] >= 2, 30, "the valid trades")
    sink.stop()

    counters = sink.component.counters
    assert counters["dropped"] == 3 and counters["gaps"] == 0
    assert [row["trade_id"] for row in read_rows(lab.data_dir / "trades.csv")] == ["2", "3"]
    assert "\n" not in sink.component.inbox.last_reason and "expected a trade" in sink.component.inbox.last_reason


def _candle() -> Candle:
    start = (now_us() // 1_000_000 - 5) * 1_000_000
    return Candle("AAPL", start, start + 1_000_000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1, start + 1_000_000, now_us())


def test_processor_drops_a_late_trade_with_its_reason_and_keeps_its_windows(lab, zmq_settings, running):
    processor = running(ZmqMarketProcessor(lab, zmq_settings=zmq_settings))
    with sockets.context() as ctx, sockets.publisher(ctx, zmq_settings.bind_address("trades"), 1000) as sock:
        publisher = StreamPublisher(sock, "trades", "test-producer.0.2", "msgpack")
        assert publisher.wait_for_subscribers(1, 30, lambda: False)
        now = now_us()
        publisher.send(trade(1, now - 10_000_000))
        publisher.send(trade(2, now))  # moves the watermark far past the first window
        publisher.send(trade(3, now - 10_000_000))  # late: its window is closed
        wait_for(lambda: processor.component.counters["late"] == 1, 30, "the late trade")
        wait_for(lambda: processor.component.counters["candles"] >= 1, 30, "the closed window's candle")
    processor.stop()
    counters = processor.component.counters
    assert (counters["trades"], counters["late"], counters["dropped"], counters["gaps"]) == (2, 1, 1, 0)
    assert "late: event time" in processor.component.inbox.last_reason
