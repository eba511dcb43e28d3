"""Deep-dive data for the report, measured on the real cluster (small CSVs the report plots).

Four topics, each with the lab's use case (trades keyed by symbol):

1. Consumer groups and rebalancing. A producer writes keyed records at a steady rate into
   a 6-partition topic; consumer c1 starts, c2 and c3 join one step (8 s) apart, then c2
   and c3 leave (close) - with default client timings, for each assignment strategy: eager `range` and incremental
   `cooperative-sticky` (classic protocol), and the broker-driven `consumer` protocol
   (KIP-848). Every record carries its sequence number and produce time, so we see which
   member consumed which partition when, the pause of each partition around each change,
   and records delivered twice (at-least-once across a rebalance).
2. Partitions and keys. Which partition each application symbol lands in with
   librdkafka's default partitioner (consistent_random = CRC32 of the key) and with
   murmur2 (Java's and kafka-python's default) - computed and checked against the broker's
   placement - and how records spread over 6 partitions for five key choices: the
   application's symbols, 48 symbols, a hot key, no key, a unique trade id.
3. Offsets and reprocessing. the trades sink (kafkalab.transports.kafka.sink.TradesCsvSink) writes
   a trades topic to a CSV; then the same topic is replayed into new CSVs: with a new
   group (from the beginning: must equal the original), with the old group and a new file
   (starts at the committed offsets: no rows), and from a point in time (a group whose
   offsets were set with offsets_for_times: equals the original's rows after that time).
4. Retention and compaction. A compacted topic (segment.ms 100, min.cleanable.dirty.ratio
   0.01) gets many updates of few keys and some tombstones; we count what the log holds
   before and after the cleaner ran and check the latest value per key survived. The
   broker settings that decide when retention and cleaning happen are read from the
   cluster.

CSV files (results/bench/, plus run_id, run_at, machine, versions and `quick` on every row):
deepdive_rebalance_events.csv  strategy, t_s, consumer, event (join | leave | assigned |
                               revoked | lost), partitions ("0 3 5"), n_partitions
deepdive_rebalance_timeline.csv  strategy, t_s (bucket start, BUCKET_S wide), partition,
                               consumer, records, latency_max_ms (produce -> consume)
deepdive_rebalance.csv         strategy, change ("c2 joins"...), t_s, stalled_partitions
                               (a gap > STALL_S), max_pause_s, moved_partitions,
                               latency_max_ms (in the step after the change), records,
                               duplicates (per strategy: records consumed twice)
deepdive_keys.csv              scenario, partitioner, partition, records, share,
                               distinct_symbols, symbols, max_partitions_per_symbol
deepdive_key_map.csv           key, partitions, partitioner, partition_computed,
                               partition_observed, matches
deepdive_offsets.csv           scenario, group, rows_expected, rows_written, equal,
                               mismatched_rows, seconds, committed_offsets (the old group's
                               committed offsets summed over partitions, before the rerun)
deepdive_compaction.csv        phase (written | before-cleaning | after-cleaning), records,
                               distinct_keys, tombstones, latest_value_ok, seconds
deepdive_retention_settings.csv  scope (broker | topic), name, value
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
from tqdm import tqdm

from kafkalab.transports.kafka.clients import base_config, require_reachable
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import fill_topic, fresh_topic, trade_backlog, wait_for_ready

EXPERIMENT = "deepdives"


Tables = dict[str, list[dict[str, object]]]  # deep-dive table name -> rows


def _group(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


# ==== 1. consumer groups and rebalancing =======================================================

STRATEGIES = {
    "eager-range": {"partition.assignment.strategy": "range"},
    "cooperative-sticky": {"partition.assignment.strategy": "cooperative-sticky"},
    "consumer-protocol": {"group.protocol": "consumer"},
}
# (step, member, action): c1 alone, c2 joins, c3 joins, c2 leaves, c3 leaves; c1 stays to the end.
SCRIPT = ((0, "c1", "join"), (1, "c2", "join"), (2, "c3", "join"), (3, "c2", "leave"), (4, "c3", "leave"))
QUICK_SCRIPT = ((0, "c1", "join"), (1, "c2", "join"), (2, "c2", "leave"))
BUCKET_S = 0.25
STALL_S = 0.5  # a partition without a consumed record this long (records arrive every ~10 ms)
REBALANCE_RATE_HZ = 600
REBALANCE_KEYS = tuple(f"S{i:02d}" for i in range(48))


@dataclass(frozen=True)
class RebalancePlan:
    strategies: tuple[str, ...]
    step_s: float  # long enough for a two-round cooperative rebalance (~2 heartbeat intervals of 3 s)
    script: tuple[tuple[int, str, str], ...] = SCRIPT

    @property
    def steps(self) -> int:
        return max(step for step, _m, _a in self.script) + 1


class _Log:
    """What the members saw, appended from their threads (list.append is atomic)."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.events: list[dict[str, object]] = []
        self.consumed: list[tuple[float, int, str, int, float]] = []  # t, partition, member, seq, latency

    def t(self) -> float:
        return time.monotonic() - self.t0

    def event(self, member: str, event: str, partitions=()) -> None:
        parts = sorted(p.partition for p in partitions)
        self.events.append({"t_s": round(self.t(), 3), "consumer": member, "event": event,
                            "partitions": " ".join(map(str, parts)), "n_partitions": len(parts)})


class _Member(threading.Thread):
    def __init__(self, name: str, bootstrap: str, topic: str, group: str, settings: dict, join_at: float,
                 leave_at: float, log: _Log) -> None:
        super().__init__(daemon=True)
        self.name_, self.bootstrap, self.topic, self.group = name, bootstrap, topic, group
        self.settings, self.join_at, self.leave_at, self.log = settings, join_at, leave_at, log
        self.error = ""

    def run(self) -> None:
        from confluent_kafka import Consumer

        time.sleep(max(0.0, self.join_at - self.log.t()))
        log, name = self.log, self.name_
        try:
            consumer = Consumer(base_config(self.bootstrap, **{
                "group.id": self.group, "auto.offset.reset": "earliest", "enable.auto.commit": True,
                "auto.commit.interval.ms": 1000, **self.settings}))
            log.event(name, "join")
            consumer.subscribe([self.topic],
                               on_assign=lambda c, ps: log.event(name, "assigned", ps),
                               on_revoke=lambda c, ps: log.event(name, "revoked", ps),
                               on_lost=lambda c, ps: log.event(name, "lost", ps))
            while log.t() < self.leave_at:
                msg = consumer.poll(0.05)
                if msg is None or msg.error():
                    continue
                seq, produced_us = map(int, msg.value().split(b","))
                now = log.t()
                log.consumed.append((now, msg.partition(), name, seq, time.time() * 1000 - produced_us / 1000))
            consumer.close()  # leaves the group at once (a clean leave, not a session timeout)
            log.event(name, "leave")
        except Exception as exc:  # reported by the caller
            self.error = f"{type(exc).__name__}: {exc}"


def _produce_steadily(bootstrap: str, topic: str, seconds: float, stop: threading.Event) -> None:
    from confluent_kafka import Producer

    producer = Producer(base_config(bootstrap, **{"linger.ms": 5}))
    start = time.monotonic()
    seq = 0
    while not stop.is_set() and (elapsed := time.monotonic() - start) < seconds:
        while seq < int(elapsed * REBALANCE_RATE_HZ):
            key = REBALANCE_KEYS[seq % len(REBALANCE_KEYS)]
            producer.produce(topic, f"{seq},{time.time_ns() // 1000}".encode(), key.encode())
            seq += 1
        producer.poll(0.01)
    producer.flush(30)


def rebalance_run(bootstrap: str, strategy: str, plan: RebalancePlan) -> tuple[list, list, list]:
    """One scripted run; returns (events, timeline rows, change summaries)."""
    step_s = plan.step_s
    total = plan.steps * step_s
    with fresh_topic(bootstrap, "rebalance", 6, 3) as topic:
        wait_for_ready(bootstrap, topic)
        group = _group("rebalance")
        log = _Log(time.monotonic())
        members = {}
        for step, member, action in plan.script:
            if action == "join":
                leave = next((s for s, m, a in plan.script if m == member and a == "leave"), plan.steps)
                members[member] = _Member(member, bootstrap, topic, group, STRATEGIES[strategy],
                                          step * step_s, leave * step_s, log)
        stop = threading.Event()
        producer = threading.Thread(target=_produce_steadily, args=(bootstrap, topic, total, stop), daemon=True)
        producer.start()
        for m in members.values():
            m.start()
        for m in members.values():
            m.join(timeout=total + 60)
        stop.set()
        producer.join(timeout=30)
    errors = [f"{m.name_}: {m.error}" for m in members.values() if m.error]
    if errors:
        raise LabError(f"rebalance deep dive ({strategy}) failed: {errors[0]}")
    events = [{"strategy": strategy, **e} for e in log.events]
    return events, _timeline(strategy, log), _changes(strategy, log, plan, total)


def _timeline(strategy: str, log: _Log) -> list[dict[str, object]]:
    buckets: dict[tuple[float, int, str], list[float]] = defaultdict(list)
    for t, partition, member, _seq, latency in log.consumed:
        buckets[(round(t // BUCKET_S * BUCKET_S, 3), partition, member)].append(latency)
    return [{"strategy": strategy, "t_s": t, "partition": p, "consumer": m, "records": len(v),
             "latency_max_ms": round(max(v), 1)} for (t, p, m), v in sorted(buckets.items())]


def _changes(strategy: str, log: _Log, plan: RebalancePlan, total: float) -> list[dict[str, object]]:
    """Per membership change: partitions that paused, the longest pause, partitions that moved.

    A pause is a gap between two consecutive records of a partition (or from its last record
    to the end of the run) that starts in the change's step; records arrive every few ms, so
    a gap longer than STALL_S means nobody was consuming that partition.
    """
    by_partition: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for t, partition, member, _seq, _lat in sorted(log.consumed):
        by_partition[partition].append((t, member))
    seqs = [c[3] for c in log.consumed]
    duplicates = len(seqs) - len(set(seqs))
    rows = []
    for step, member, action in plan.script[1:]:  # the first join starts the group: nothing to compare
        start, end = step * plan.step_s, (step + 1) * plan.step_s
        stalled, longest, moved = 0, 0.0, 0
        for seen in by_partition.values():
            times = [t for t, _ in seen] + [total]
            gaps = [b - a for a, b in zip(times, times[1:]) if start - STALL_S <= a < end]
            gap = max(gaps, default=0.0)
            stalled += gap > STALL_S
            longest = max(longest, gap)
            before = [m for t, m in seen if t < start]
            after = [m for t, m in seen if start <= t < end]
            moved += bool(before and after and before[-1] != after[-1])
        latencies = [c[4] for c in log.consumed if start <= c[0] < end]
        rows.append({"strategy": strategy, "change": f"{member} {action}s", "t_s": start,
                     "stalled_partitions": stalled, "max_pause_s": round(longest, 3), "moved_partitions": moved,
                     "latency_max_ms": round(max(latencies), 1) if latencies else None,
                     "records": len(latencies), "duplicates": duplicates})
    return rows


def rebalance_deepdive(config: LabConfig, plan: RebalancePlan, progress) -> Tables:
    events, timeline, changes = [], [], []
    for strategy in plan.strategies:
        progress.set_postfix_str(f"rebalance: {strategy}")
        e, t, c = rebalance_run(config.bootstrap_servers, strategy, plan)
        events += e
        timeline += t
        changes += c
    return {"rebalance_events": events, "rebalance_timeline": timeline, "rebalance": changes}


# ==== 2. partitions and keys ===================================================================

PARTITIONERS = ("consistent_random", "murmur2_random")  # librdkafka's default; Java's / kafka-python's


def computed_partition(key: bytes, partitions: int, partitioner: str) -> int:
    """Where a key goes, computed the way each client computes it."""
    if partitioner == "murmur2_random":
        from kafka.partitioner.default import murmur2

        return (murmur2(key) & 0x7FFFFFFF) % partitions
    return zlib.crc32(key) % partitions  # librdkafka consistent(_random): CRC32


def _produce_and_place(bootstrap: str, topic: str, partitioner: str, records) -> list[int]:
    """Produce (key, value) pairs; returns the partition the broker acknowledged for each."""
    from confluent_kafka import Producer

    placed: list[int] = [-1] * len(records)
    failed = 0

    def on_delivery(err, msg) -> None:
        nonlocal failed
        if err is not None:
            failed += 1
        else:
            placed[int(msg.value())] = msg.partition()

    producer = Producer(base_config(bootstrap, **{"partitioner": partitioner, "linger.ms": 5,
                                                  "on_delivery": on_delivery}))
    for i, (key, _symbol) in enumerate(records):
        while True:
            try:
                producer.produce(topic, str(i).encode(), key)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(60)
    if failed or left:
        raise LabError(f"keys deep dive: {failed + left} records were not acknowledged")
    return placed


def key_scenarios(count: int) -> dict[str, list[tuple[bytes | None, str]]]:
    """(Kafka key, the trade's symbol) per record, for five ways to choose the key."""
    from kafkalab.core.market import DEFAULT_SYMBOLS, SYMBOLS

    app = list(DEFAULT_SYMBOLS)
    activity = [SYMBOLS[s].activity for s in app]
    hot = [sum(activity[1:])] + activity[1:]  # the first symbol makes half of the flow
    many = [f"S{i:02d}" for i in range(48)]
    weighted = trade_backlog(count, "json", app, 1000, activity).symbols
    hot_symbols = trade_backlog(count, "json", app, 1000, hot).symbols
    return {
        "symbol (application's symbols)": [(s.encode(), s) for s in weighted],
        "symbol (48 symbols)": [(many[i % 48].encode(), many[i % 48]) for i in range(count)],
        "symbol with a hot key": [(s.encode(), s) for s in hot_symbols],
        "no key": [(None, s) for s in weighted],
        "trade id": [(f"{s}-{i}".encode(), s) for i, s in enumerate(weighted)],
    }


def keys_deepdive(config: LabConfig, count: int, progress) -> Tables:
    from kafkalab.core.market import DEFAULT_SYMBOLS

    bootstrap = config.bootstrap_servers
    key_map, spread = [], []
    for partitions in (3, 6):
        with fresh_topic(bootstrap, "keys", partitions, 3) as topic:
            wait_for_ready(bootstrap, topic)
            for partitioner in PARTITIONERS:
                progress.set_postfix_str(f"keys: {partitions} partitions, {partitioner}")
                records = [(s.encode(), s) for s in DEFAULT_SYMBOLS]
                placed = _produce_and_place(bootstrap, topic, partitioner, records)
                for (key, symbol), observed in zip(records, placed):
                    computed = computed_partition(key, partitions, partitioner)
                    key_map.append({"key": symbol, "partitions": partitions, "partitioner": partitioner,
                                    "partition_computed": computed, "partition_observed": observed,
                                    "matches": computed == observed})
                if partitions == 6:
                    for scenario, records in key_scenarios(count).items():
                        spread += _spread_rows(scenario, partitioner, partitions, records,
                                               _produce_and_place(bootstrap, topic, partitioner, records))
    return {"key_map": key_map, "keys": spread}


def _spread_rows(scenario: str, partitioner: str, partitions: int, records, placed: list[int]) -> list[dict]:
    symbols_in: dict[int, set[str]] = defaultdict(set)
    counts: dict[int, int] = defaultdict(int)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for (_key, symbol), partition in zip(records, placed):
        counts[partition] += 1
        symbols_in[partition].add(symbol)
        partitions_of[symbol].add(partition)
    widest = max(len(p) for p in partitions_of.values())
    return [{"scenario": scenario, "partitioner": partitioner, "partition": p, "records": counts[p],
             "share": round(counts[p] / len(records), 4), "distinct_symbols": len(symbols_in[p]),
             "symbols": " ".join(sorted(symbols_in[p])[:8]), "max_partitions_per_symbol": widest}
            for p in range(partitions)]


# ==== 3. offsets and reprocessing ==============================================================

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

    consumer = Consumer(base_config(bootstrap, **{"group.id": _group("offsets-lookup")}))
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

            original_group = _group("sink-original")
            progress.set_postfix_str("offsets: original sink")
            path, secs = _run_sink(bootstrap, original_group, topic, dead_letters, workdir / "original", count, 120)
            original = _read_rows(path)
            rows.append(_offsets_row("original", original_group, count, original, original, secs))

            progress.set_postfix_str("offsets: replay with a new group")
            group = _group("sink-replay")
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
            group = _group("sink-from-time")
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


# ==== 4. retention and compaction ==============================================================

COMPACTION_CONFIGS = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
                      "min.compaction.lag.ms": "0", "delete.retention.ms": "1000"}
BROKER_SETTINGS = ("log.retention.check.interval.ms", "log.cleaner.backoff.ms", "log.cleaner.enable",
                   "log.segment.bytes", "log.retention.hours", "log.cleaner.min.cleanable.ratio")


def _read_all(bootstrap: str, topic: str) -> list[tuple[str, bytes | None]]:
    """Every (key, value) in the topic's single partition, from the beginning to the end offset."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(base_config(bootstrap, **{"group.id": _group("compaction-read"), "enable.auto.commit": False}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, low)])
        records, position, deadline = [], low, time.monotonic() + 60
        while position < high and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                records.append((msg.key().decode(), msg.value()))
                position = msg.offset() + 1
        return records
    finally:
        consumer.close()


def compaction_deepdive(config: LabConfig, keys: int, updates: int, wait_s: float, progress) -> Tables:
    from confluent_kafka import Producer

    bootstrap = config.bootstrap_servers
    names = [f"S{i:02d}" for i in range(keys)]
    deleted = set(names[: max(1, keys // 10)])  # tombstones: "this symbol was delisted"
    latest: dict[str, bytes | None] = {}
    rows = []
    with fresh_topic(bootstrap, "compaction", 1, 3, **COMPACTION_CONFIGS) as topic:
        wait_for_ready(bootstrap, topic)
        progress.set_postfix_str("compaction: writing updates")
        producer = Producer(base_config(bootstrap, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5}))
        written = 0
        for u in range(updates):  # rounds a little apart, so segment.ms rolls many small segments
            for name in names:
                value = f'{{"symbol":"{name}","price":{100 + u * 0.01:.2f},"update":{u}}}'.encode()
                producer.produce(topic, value, name.encode())
                latest[name] = value
                written += 1
            producer.flush(30)
            time.sleep(0.12)
        for name in sorted(deleted):
            producer.produce(topic, None, name.encode())
            latest[name] = None
            written += 1
        producer.flush(30)
        time.sleep(0.2)
        producer.produce(topic, b"roll", b"~marker")  # rolls the last data segment; stays in the active one
        producer.flush(30)
        rows.append({"phase": "written", "records": written, "distinct_keys": keys, "tombstones": len(deleted),
                     "latest_value_ok": True, "seconds": 0.0})
        before = [r for r in _read_all(bootstrap, topic) if r[0] != "~marker"]
        rows.append(_compaction_row("before-cleaning", before, latest, 0.0))
        started = time.monotonic()
        after = before
        while time.monotonic() - started < wait_s:
            progress.set_postfix_str(f"compaction: waiting for the log cleaner ({time.monotonic() - started:.0f} s)")
            time.sleep(2.0)
            after = [r for r in _read_all(bootstrap, topic) if r[0] != "~marker"]
            if len(after) <= keys:  # one record per key left (tombstones may still be there)
                break
        rows.append(_compaction_row("after-cleaning", after, latest, time.monotonic() - started))
        settings = _retention_settings(bootstrap, topic)
    return {"compaction": rows, "retention_settings": settings}


def _compaction_row(phase: str, records, latest: dict[str, bytes | None], seconds: float) -> dict[str, object]:
    last: dict[str, bytes | None] = {}
    for key, value in records:
        last[key] = value
    # Latest value kept for every live key; a deleted key is gone or still a tombstone (None).
    ok = all(last.get(k) == v for k, v in latest.items() if v is not None) and \
        all(last.get(k) is None for k, v in latest.items() if v is None)
    return {"phase": phase, "records": len(records), "distinct_keys": len(last),
            "tombstones": sum(1 for _k, v in records if v is None), "latest_value_ok": ok,
            "seconds": round(seconds, 1)}


def _retention_settings(bootstrap: str, topic: str) -> list[dict[str, object]]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    from kafkalab.transports.kafka.clients import admin

    client = admin(bootstrap)
    broker_id = str(min(b.id for b in client.describe_cluster().result(timeout=30).nodes))
    broker = ConfigResource(ResourceType.BROKER, broker_id)
    topic_res = ConfigResource(ResourceType.TOPIC, topic)
    result = client.describe_configs([broker, topic_res])
    broker_cfg, topic_cfg = result[broker].result(timeout=30), result[topic_res].result(timeout=30)
    rows = [{"scope": "broker", "name": k, "value": broker_cfg[k].value} for k in BROKER_SETTINGS if k in broker_cfg]
    rows += [{"scope": "topic", "name": k, "value": topic_cfg[k].value}
             for k in ("cleanup.policy", "segment.ms", "segment.bytes", "min.cleanable.dirty.ratio",
                       "delete.retention.ms", "retention.ms") if k in topic_cfg]
    return rows


# ==== all four =================================================================================

def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    plan = (RebalancePlan(("cooperative-sticky",), 7.0, QUICK_SCRIPT) if quick
            else RebalancePlan(tuple(STRATEGIES), 8.0))
    parts: list[Callable[[object], Tables]] = [
        lambda progress: rebalance_deepdive(config, plan, progress),
        lambda progress: keys_deepdive(config, 1_200 if quick else 12_000, progress),
        # The idle run waits out the old static member's session (10 s) in the full run.
        lambda progress: offsets_deepdive(config, 600 if quick else 6_000, 5.0 if quick else 12.0, progress),
        lambda progress: compaction_deepdive(config, 20 if quick else 50, 10 if quick else 30,
                                             60.0 if quick else 90.0, progress),
    ]
    written = 0
    with tqdm(total=len(parts), desc="deepdives", unit="topic") as progress:
        for part in parts:
            for name, rows in part(progress).items():  # each topic's tables as soon as it is done
                written += append_rows(config.bench_dir / f"deepdive_{name}.csv",
                                       [{**row, "quick": quick} for row in rows])
            progress.update(1)
    return written
