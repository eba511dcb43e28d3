"""Deep dive 1: consumer groups and rebalancing.

A producer writes keyed records at a steady rate into a 6-partition topic; consumer c1
starts, c2 and c3 join one step (8 s) apart, then c2 and c3 leave (close) - with default
client timings, for each assignment strategy: eager `range` and incremental
`cooperative-sticky` (classic protocol), and the broker-driven `consumer` protocol
(KIP-848). Every record carries its sequence number and produce time, so we see which
member consumed which partition when, the pause of each partition around each change,
and records delivered twice (at-least-once across a rebalance).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from kafkalab.transports.kafka.clients import base_config
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.bench.harness import fresh_topic, wait_for_ready
from kafkalab.bench.deepdives.common import Tables, fresh_group

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
        group = fresh_group("rebalance")
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
