"""At the high-water mark a publisher drops for the slow subscriber (it never blocks), and
the subscriber's sequence count shows every dropped message."""

from __future__ import annotations

from kafkalab.core.models import Trade, now_us
from kafkalab.core.sequence import SequenceTracker
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.streams import StreamPublisher, receive_batch, unpack

SENT = 20_000
HWM = 50


def test_a_subscriber_that_does_not_read_loses_messages_counted_as_gaps(socket_dir):
    address = f"ipc://{socket_dir}/hwm"
    trade = Trade("AAPL", 1, 190.0, 10.0, "buy", now_us(), now_us())
    with sockets.context() as ctx, sockets.publisher(ctx, address, HWM) as pub, \
            sockets.subscriber(ctx, [address], ["trades"], HWM) as sub:
        publisher = StreamPublisher(pub, "trades", "hwm.0.1", "msgpack")
        assert publisher.wait_for_subscribers(1, 30, lambda: False)
        for _ in range(SENT):  # the subscriber reads nothing meanwhile: would block if PUB blocked
            publisher.send(trade)
        tracker, received = SequenceTracker(), 0
        while batch := receive_batch(sub, 1.0, 10_000):
            for frame in batch:
                tracker.note("p", unpack(frame).sequence)
                received += 1
        publisher.send(trade)  # one more after the drain, so a tail drop is a gap too
        for frame in receive_batch(sub, 10.0, 1):
            tracker.note("p", unpack(frame).sequence)
            received += 1
    print(f"HWM {HWM}: {SENT + 1} sent, {received} received, {tracker.gaps} gaps counted")
    assert tracker.last("p") == SENT + 1
    assert 0 < received < SENT and tracker.gaps == SENT + 1 - received
    assert tracker.duplicates == 0
