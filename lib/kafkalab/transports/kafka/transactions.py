"""The processor's transactional producer, kept usable through librdkafka's failure modes.

- Retriable errors (a timeout while brokers are down) are retried until the call works or a
  stop is requested; the caller then aborts and nothing is committed.
- Every blocking call has a deadline: its own timeout plus a grace. After a two-broker outage
  librdkafka 2.16 has been seen to hang in send_offsets_to_transaction far past its timeout
  ("Failed to commit offsets to transaction on broker (none): Local: Erroneous state"). An
  overrun raises HungProducer; the owner then abandons this producer (never flushed or closed:
  either would block as well) and opens a new one with the same transactional.id, whose
  init_transactions fences the hung one and aborts its open transaction.
- An abandoned producer is touched by no other thread while its call may still be inside it:
  at the end it is closed only if that call has returned, and it stays referenced until the
  process ends (_ABANDONED), so it is never freed by whichever thread happens to drop the last
  reference - possibly the stuck one, or the garbage collector under a librdkafka call.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Callable

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from kafkalab.errors import LabError
from kafkalab.runtime.deadline import CallOverran, call_with_deadline
from kafkalab.transports.kafka import clients

TXN_TIMEOUT_S = 30.0
# A call still blocked this long after its own timeout has hung inside librdkafka.
HUNG_CALL_GRACE_S = 10.0
# An open transaction of a crashed instance blocks read_committed readers until it is
# aborted: keep the broker-side timeout short (our steps commit well within it).
TRANSACTION_TIMEOUT_MS = 10_000


# Every abandoned producer's ExitStack, kept until the process ends (see the module docstring).
_ABANDONED: list[ExitStack] = []


class ProcessorError(LabError):
    """The processor cannot continue (fatal producer/consumer error)."""


class HungProducer(Exception):
    """A transactional call overran its deadline: the producer must be replaced."""


class FatalClientError(Exception):
    """A fatal Kafka client error, recovered from by restarting the clients."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error


class TransactionalProducer:
    """One transactional producer at a time under a stable transactional.id (a context manager:
    on exit an open transaction is aborted, then the producer flushed and closed)."""

    def __init__(self, bootstrap_servers: str, transactional_id: str, log,
                 stop_requested: Callable[[], bool], wait: Callable[[float], bool]) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.transactional_id = transactional_id
        self.log = log
        self._stop_requested = stop_requested
        self._wait = wait
        self.hung_after_s = TXN_TIMEOUT_S + HUNG_CALL_GRACE_S  # a call still blocked then is abandoned
        self._stack = ExitStack()
        # hung producers, kept open on purpose, each with the event set once its call returned
        self._abandoned: list[tuple[ExitStack, threading.Event]] = []
        self._overran: threading.Event | None = None  # of the last call that outlived its deadline
        self.producer: Producer | None = None
        self.in_transaction = False

    def __enter__(self) -> TransactionalProducer:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.abort_quietly()
        self._stack.close()
        for abandoned, returned in self._abandoned:  # fenced by now; a call still inside: left alone
            _ABANDONED.append(abandoned)
            if not returned.is_set():
                self.log.warning("an abandoned producer is still inside a librdkafka call; left open")
                continue
            try:
                call_with_deadline(abandoned.close, 5.0, "closing an abandoned producer")
            except Exception:  # a fenced producer's flush raises; one that blocks again overruns
                pass
        self._abandoned.clear()

    def open(self) -> Producer:
        """A new producer; init_transactions fences any earlier one with the same id."""
        self.producer = self._stack.enter_context(clients.producer(
            self.bootstrap_servers,
            **{"transactional.id": self.transactional_id, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}))
        producer = self.producer  # each call names its producer: a later replacement cannot redirect it
        self._retrying("init_transactions", lambda: producer.init_transactions(TXN_TIMEOUT_S))
        return producer

    def discard(self, hung: bool) -> None:
        """Drop the current producer: a failed one is closed (errors ignored), a hung one abandoned.
        Until open() makes the next one there is none, so nothing can call into the dropped one."""
        self.in_transaction = False
        self.producer = None
        if hung:
            returned = self._overran if self._overran is not None else threading.Event()
            self._abandoned.append((self._stack.pop_all(), returned))
            self._overran = None
            return
        try:
            self._stack.close()
        except (KafkaException, RuntimeError):
            pass  # flushing a failed producer raises; its records were never committed

    def begin(self) -> None:
        self.producer.begin_transaction()
        self.in_transaction = True

    def commit(self, offsets: list[TopicPartition], group) -> None:
        """Send the consumer offsets with the transaction, then commit it (KafkaException on failure)."""
        producer = self.producer
        if offsets:
            self._retrying("send_offsets_to_transaction",
                           lambda: producer.send_offsets_to_transaction(offsets, group, TXN_TIMEOUT_S))
        self._retrying("commit_transaction", lambda: producer.commit_transaction(TXN_TIMEOUT_S))
        self.in_transaction = False

    def abort(self) -> None:
        """Abort the open transaction. With too few brokers the coordinator cannot write the
        abort and librdkafka times out with "retry call to resume": retry until the brokers are
        back (or a stop is requested; the broker then aborts after transaction.timeout.ms)."""
        producer = self.producer
        while True:
            try:
                self._call("abort_transaction", lambda: producer.abort_transaction(TXN_TIMEOUT_S))
                self.in_transaction = False
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise FatalClientError(err) from None
                if not err.retriable() or self._stop_requested():
                    raise ProcessorError(f"could not abort the transaction ({err.str()}); restart the processor "
                                         f"(it resumes from the last committed transaction)") from None
                self.log.warning(f"abort: {err.str()}; retrying")
                self._wait(0.5)

    def abort_quietly(self) -> None:
        """Abort an open transaction if the cluster lets us; else the broker aborts it after
        transaction.timeout.ms. A producer that hangs here is abandoned."""
        if not self.in_transaction:
            return
        producer = self.producer
        try:
            self._call("abort_transaction", lambda: producer.abort_transaction(TXN_TIMEOUT_S))
        except KafkaException:
            pass
        except HungProducer as exc:
            self.log.warning(f"{exc}; leaving the transaction to the broker's timeout")
            self.discard(hung=True)
        self.in_transaction = False

    def _call(self, what: str, call) -> None:
        try:
            call_with_deadline(call, self.hung_after_s, what)
        except CallOverran as exc:
            self._overran = exc.returned
            raise HungProducer(f"librdkafka hung: {exc}") from None

    def _retrying(self, what: str, call) -> None:
        while True:
            try:
                self._call(what, call)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or err.txn_requires_abort() or self._stop_requested():
                    raise
                self.log.warning(f"{what}: {err.str()}; retrying")
                self._wait(0.5)
