"""Deep dive 3: offsets and reprocessing.

The trades sink (kafkalab.transports.kafka.sink.TradesCsvSink) writes a trades topic to a
CSV; then the same topic is replayed into new CSVs: with a new group (from the beginning:
must equal the original), with the old group and a new file (starts at the committed
offsets: no rows), and from a point in time (a group whose offsets were set with
offsets_for_times: equals the original's rows after that time).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from kafkalab.transports.kafka.clients import base_config
from kafkalab.config import LabConfig
from kafkalab.bench.harness import fill_topic, fresh_topic, trade_backlog, wait_for_ready
from kafkalab.bench.deepdives.common import Tables, fresh_group


def _run_sink(bootstrap: str, group: str, topic: str, dead_letters: str, folder: Path, max_messages: int,
              max_seconds: float) -> tuple[Path, float]:
    import contextlib
    import io

    from kafkalab.runtime.loop import Bounds, run_loop
    from kafkalab.transports.kafka.sink import SinkSettings, TradesCsvSink, trades_target

    target = trades_target(folder, topic, "trades.csv")
    sink = TradesCsvSink(SinkSettings(bootstrap, group, (target,), dead_letters))
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):  # the sink's notices are not our output
        run_loop(sink, Bounds(max_seconds=max_seconds, max_messages=max_messages), progress=None)
    return target.path, time.monotonic() - started


def _read_rows(path: Path) -> pd.DataFrame:
    """The CSV as text, without the write time, in Kafka order (partition, offset)."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    df = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["written_ts_us"])
    if df.empty:  # a header and no rows
        return df.assign(kafka_partition=pd.Series(dtype=int), kafka_offset=pd.Series(dtype=int))
    where = df["position"].str.split(":", expand=True).astype(int)  # Kafka's "partition:offset"
    df = df.assign(kafka_partition=where[0], kafka_offset=where[1])
    return df.sort_values(["kafka_partition", "kafka_offset"]).reset_index(drop=True)


def compare_rows(expected: pd.DataFrame, written: pd.DataFrame) -> tuple[bool, int]:
    """(equal, rows present in one but not the other or different)."""
    if expected.empty or written.empty:
        return expected.empty and written.empty, max(len(expected), len(written))
    merged = expected.merge(written, how="outer", indicator=True)
    mismatched = int((merged["_merge"] != "both").sum())
    return mismatched == 0 and len(expected) == len(written), mismatched


def _offsets_at(bootstrap: str, topic: str, partitions: int, ts_ms: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(base_config(bootstrap, **{"group.id": fresh_group("offsets-lookup")}))
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, p, ts_ms) for p in range(partitions)], timeout=30)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)}
    finally:
        consumer.close()
    return {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition] for tp in found}


def _committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum over partitions of the group's committed offset (= records it has finished)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(base_config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in found)


def _commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Set a new group's starting point (what `kafka-consumer-groups --reset-offsets --to-datetime` does)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(base_config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def offsets_deepdive(config: LabConfig, count: int, idle_s: float, progress) -> Tables:
    from kafkalab.core.market import DEFAULT_SYMBOLS, SYMBOLS

    bootstrap, partitions = config.bootstrap_servers, 3
    app = list(DEFAULT_SYMBOLS)
    backlog = trade_backlog(count, config.serializer, app, 100, [SYMBOLS[s].activity for s in app])
    half = count // 2
    workdir = Path(tempfile.mkdtemp(prefix="deepdive-offsets-"))
    rows = []
    try:
        with fresh_topic(bootstrap, "offsets", partitions, 3) as topic, \
                fresh_topic(bootstrap, "offsets-dlq", 1, 3) as dead_letters:
            wait_for_ready(bootstrap, topic)
            progress.set_postfix_str("offsets: writing trades")
            # Two halves a moment apart: the second half's Kafka timestamps are all after `middle`.
            fill_topic(bootstrap, topic, backlog.values[:half], backlog.keys[:half], headers=backlog.headers)
            time.sleep(1.0)
            middle_ms = int(time.time() * 1000)
            time.sleep(0.2)
            fill_topic(bootstrap, topic, backlog.values[half:], backlog.keys[half:], headers=backlog.headers)

            original_group = fresh_group("sink-original")
            progress.set_postfix_str("offsets: original sink")
            path, secs = _run_sink(bootstrap, original_group, topic, dead_letters, workdir / "original", count, 120)
            original = _read_rows(path)
            rows.append(_offsets_row("original", original_group, count, original, original, secs))

            progress.set_postfix_str("offsets: replay with a new group")
            group = fresh_group("sink-replay")
            path, secs = _run_sink(bootstrap, group, topic, dead_letters, workdir / "replay", count, 120)
            rows.append(_offsets_row("replay: new group, from the beginning", group, count, original,
                                     _read_rows(path), secs))

            progress.set_postfix_str("offsets: same group, new file")
            committed = _committed_total(bootstrap, original_group, topic, partitions)
            path, secs = _run_sink(bootstrap, original_group, topic, dead_letters, workdir / "same-group", 0, idle_s)
            rows.append({**_offsets_row("same group, new file: starts at the committed offsets", original_group, 0,
                                        original.iloc[0:0], _read_rows(path), secs),
                         "committed_offsets": committed})

            progress.set_postfix_str("offsets: replay from a point in time")
            starts = _offsets_at(bootstrap, topic, partitions, middle_ms)
            group = fresh_group("sink-from-time")
            _commit_offsets(bootstrap, group, topic, starts)
            expected = original[original.apply(lambda r: r.kafka_offset >= starts[r.kafka_partition], axis=1)]
            path, secs = _run_sink(bootstrap, group, topic, dead_letters, workdir / "from-time", len(expected), 120)
            rows.append(_offsets_row("replay: new group, from a point in time (offsets_for_times)", group,
                                     len(expected), expected.reset_index(drop=True), _read_rows(path), secs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"offsets": rows}


def _offsets_row(scenario: str, group: str, expected_rows: int, expected: pd.DataFrame, written: pd.DataFrame,
                 seconds: float) -> dict[str, object]:
    equal, mismatched = compare_rows(expected, written)
    return {"scenario": scenario, "group": group, "rows_expected": expected_rows, "rows_written": len(written),
            "equal": equal, "mismatched_rows": mismatched, "seconds": round(seconds, 2)}
