"""A producer abandoned because its transactional call hung is used by no other thread while that
call may still be inside it, and is never freed under it (kafkalab.transports.kafka.transactions).

No broker: what the client holds is stood in for by the ExitStack callbacks the producer's
context would register; the calls are plain functions that block until released.
"""

from __future__ import annotations

import logging
import threading

import pytest

from kafkalab.transports.kafka import transactions
from kafkalab.transports.kafka.transactions import HungProducer, TransactionalProducer


def owner() -> TransactionalProducer:
    txn = TransactionalProducer("127.0.0.1:1", "txn-test", logging.getLogger("test"), lambda: False, lambda s: False)
    txn.hung_after_s = 0.05
    return txn


def hang_and_abandon(txn: TransactionalProducer, release: threading.Event, closed: list[str], name: str) -> None:
    txn._stack.callback(closed.append, name)  # what closing the producer would do
    with pytest.raises(HungProducer):
        txn._call("send_offsets_to_transaction", release.wait)
    txn.discard(hung=True)


def test_a_producer_still_inside_its_call_is_not_closed_and_stays_referenced():
    txn, release, closed = owner(), threading.Event(), []
    hang_and_abandon(txn, release, closed, "hung")
    kept = len(transactions._ABANDONED)
    txn.__exit__(None, None, None)
    assert closed == []  # flushing it from here would run beside the call still inside it
    assert len(transactions._ABANDONED) == kept + 1  # not freed under the call either
    release.set()


def test_a_producer_whose_call_returned_is_closed_at_the_end():
    txn, release, closed = owner(), threading.Event(), []
    hang_and_abandon(txn, release, closed, "returned")
    release.set()
    txn._abandoned[0][1].wait(5.0)
    txn.__exit__(None, None, None)
    assert closed == ["returned"]
    assert txn._abandoned == []
