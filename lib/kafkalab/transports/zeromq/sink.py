"""The CSV sinks over ZeroMQ: a SUB socket connected to the streams' endpoints.

Same files and columns as over Kafka (transport "zeromq", position "producer:sequence").
At start each file's last sequence per producer is read back (csvfiles.PositionedCsv)
and given to the SequenceTracker: a sink killed and restarted counts exactly the messages
sent while it was away as gaps, and drops anything it already wrote (a duplicate). At the
end it appends its counts to results/data/zeromq_stats.csv.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from kafkalab.config import LabConfig
from kafkalab.core.models import now_us
from kafkalab.runtime.loop import Component
from kafkalab.core.csvstore import (BackgroundSync, SinkTarget, candles_targets, exclusive_writer, require_writable_dir,
                                    trades_target)
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.addresses import ZmqSettings, settings_of
from kafkalab.transports.zeromq.csvfiles import SYNC_EVERY_S, PositionedCsv
from kafkalab.transports.zeromq.inbox import COUNTERS, Inbox
from kafkalab.transports.zeromq.stats import append_stats
from kafkalab.transports.zeromq.streams import receive_batch

POLL_TIMEOUT_S = 0.1
MAX_BATCH = 5000


class ZmqCsvSink(Component):
    message_counter = "received"

    def __init__(self, config: LabConfig, name: str, targets: tuple[SinkTarget, ...], *,
                 zmq_settings: ZmqSettings | None = None, max_batch: int = MAX_BATCH) -> None:
        self.name = name
        self.counter_names = (*COUNTERS, "written", *(t.counter for t in targets))
        super().__init__()
        self.config = config
        self.settings = zmq_settings or settings_of(config)
        self.targets = {t.stream: t for t in targets}
        self.max_batch = int(max_batch)
        self.inbox = Inbox(name, self.counters, {t.stream: t.record_type for t in targets})
        self.files: dict[str, PositionedCsv] = {}
        self.syncer: BackgroundSync | None = None
        self._sync_requested_at = 0.0
        self.sock = None

    def setup(self, stack: ExitStack) -> None:
        for folder in {t.path.parent for t in self.targets.values()}:
            require_writable_dir(folder)  # before anything is received
        for stream, target in self.targets.items():
            stack.enter_context(exclusive_writer(target.path))
            csv_file = self.files[stream] = PositionedCsv(target.path, target.columns)
            stack.callback(csv_file.close)
            for producer, sequence in csv_file.last.items():
                self.inbox.tracker.resume((stream, producer), sequence)
        # Entered after the files, so it stops (last fsync done) before they are closed.
        self.syncer = stack.enter_context(BackgroundSync(list(self.files.values())))
        stack.callback(self._write_stats)  # also after an error: the counts so far are true
        ctx = stack.enter_context(sockets.context())
        addresses = [self.settings.connect_address(s) for s in self.targets]
        self.sock = stack.enter_context(sockets.subscriber(ctx, addresses, list(self.targets), self.settings.hwm))

    def step(self) -> None:
        limit = self.max_batch
        left = self.messages_left()
        if left is not None:
            limit = max(1, min(limit, left))
        accepted = [got for got in map(self.inbox.accept, receive_batch(self.sock, POLL_TIMEOUT_S, limit)) if got]
        written_ts_us = now_us()  # the moment the rows are handed to the file
        rows: dict[str, list[tuple]] = {}
        for got in accepted:
            stream = got.envelope.stream
            try:
                row = self.files[stream].row(got.record, written_ts_us, got.envelope.position)
            except ValueError as exc:
                self.inbox.drop(f"{stream} {got.envelope.position}: {exc}")
                continue
            rows.setdefault(stream, []).append(row)
        for stream, items in rows.items():
            self.files[stream].write(items)
            self.counters.add(self.targets[stream].counter, len(items))
            self.counters.add("written", len(items))
        if rows and time.monotonic() - self._sync_requested_at >= SYNC_EVERY_S:
            self._sync_requested_at = time.monotonic()
            self.syncer.request()  # fsync in the background: the next message is not held up

    def finish(self) -> None:
        self.syncer.wait(self.syncer.request())  # everything written is on disk

    def _write_stats(self) -> None:
        append_stats(self.config.data_dir, self.name, self.inbox.tracker, self.counters["dropped"])

    def summary(self) -> str:
        files = ", ".join(str(f.path) for f in self.files.values())
        return f"{self.name}: {self.counters!r}; {self.inbox.summary()} -> {files}"


def trades_sink(config: LabConfig, **kwargs) -> ZmqCsvSink:
    return ZmqCsvSink(config, "trades-sink", (trades_target(config.data_dir),), **kwargs)


def candles_sink(config: LabConfig, **kwargs) -> ZmqCsvSink:
    return ZmqCsvSink(config, "candles-sink", candles_targets(config.data_dir), **kwargs)
