"""Replication and failure, on a private 3-node cluster (it kills brokers, so never the user's).

The experiment starts its own cluster (base port REPLICATION_BASE_PORT = 24092, run folder
.run/bench-replication-<port>), whatever KAFKA_BOOTSTRAP_SERVERS says, and stops and
wipes it at the end.

1. Throughput: replication factor 1 vs 3 x acks 1 vs all (1 KiB records, linger 20 ms /
   ~1 MB batches, no compression, idempotence with acks=all), confluent-kafka (the best
   Python path, see bench/producer/) and Java's ProducerPerformance as the reference, on
   a fresh topic per cell (RF 1: min ISR 1; RF 3: min ISR 2).
2. Failure timeline: confluent-kafka produces at a steady RATE with acks=all and
   idempotence to a topic with RF 3, min ISR 2; at KILL_AT_S the leader of partition 0 is
   killed (kill -9) and at RESTART_AT_S started again. Per second: records sent and
   acknowledged, delivery errors, client errors and latency. Each record carries its
   sequence number; at the end everything is read back (read_committed, a new group) and
   compared with what was acknowledged: `lost` (acknowledged but not in the topic) must
   be 0, `duplicates` (a sequence number twice) is 0 with idempotence.

Columns of results/bench/replication.csv (plus run_id, run_at, machine and versions):
    kind            throughput | failure
    client          java | confluent-kafka
    replication_factor, min_insync_replicas, acks, record_bytes
    records, errors, seconds, records_per_s, mb_per_s
    latency_p50_ms, latency_p95_ms, latency_p99_ms
    ratio_to_java   (throughput rows) records_per_s / the Java row of the same RF and acks
    rf3_vs_rf1      (throughput rows) records_per_s / the same client's RF 1 row with the same acks
    failure rows also: rate_hz, killed_broker, kill_at_s, restart_at_s, sent, acked, lost,
                    duplicates, unacked_found (failed deliveries that are in the topic anyway),
                    client_errors, longest_stall_s (longest run of seconds without an ack),
                    latency_max_ms, isr_full_after_restart_s
    machine_cpu_percent, load_avg_1m
    quick           True for a --quick run (shorter timeline, no Java)

Columns of results/bench/replication_timeline.csv (one row per second of the failure run):
    t_s, sent, acked, errors, client_errors, latency_p50_ms, latency_p95_ms, latency_p99_ms,
    latency_max_ms, brokers_up, event (kill / restart / isr-full, when it happened that second),
    kill_at_s, restart_at_s, quick
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm import tqdm

from kafkalab.transports.kafka.clients import base_config, describe_partitions, wait_for_full_isr
from kafkalab.transports.kafka.cluster import LocalCluster
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fresh_topic, latency_percentiles, private_cluster, wait_for_ready
from kafkalab.bench.producer.cells import Budget, Cell
from kafkalab.bench.producer.clients import produce_confluent, produce_java

EXPERIMENT = "replication"
REPLICATION_BASE_PORT = 24092
RECORD_BYTES = 1024
TIMELINE_RECORD_BYTES = 256


@dataclass(frozen=True)
class Timeline:
    seconds: float
    kill_at_s: float
    restart_at_s: float
    rate_hz: int
    wait_for_isr: bool = True  # after the restart, time until its replicas are back in sync


FULL_TIMELINE = Timeline(seconds=60, kill_at_s=15, restart_at_s=35, rate_hz=2000)
QUICK_TIMELINE = Timeline(seconds=20, kill_at_s=3, restart_at_s=13, rate_hz=1000, wait_for_isr=False)


# ---- 1. throughput ---------------------------------------------------------------------------

def throughput_rows(config: LabConfig, bootstrap: str, quick: bool, progress) -> list[dict[str, object]]:
    budget = Budget(max_records=5_000 if quick else 600_000, seconds=1.0 if quick else 3.0,
                    warmup_seconds=0.2 if quick else 0.5, java_seconds=3.0, java_min=10_000)
    java_config = config.with_overrides(bootstrap_servers=bootstrap)
    rows: list[dict[str, object]] = []
    for rf, acks in itertools.product((1, 3), ("1", "all")):
        cell = Cell(RECORD_BYTES, acks, "on", "none")
        base = {"kind": "throughput", "replication_factor": rf, "min_insync_replicas": 1 if rf == 1 else 2,
                "acks": acks, "record_bytes": RECORD_BYTES}
        with fresh_topic(bootstrap, "replication", 3, rf) as topic:
            wait_for_ready(bootstrap, topic)
            progress.set_postfix_str(f"RF {rf} acks {acks} confluent-kafka")
            with LoadProbe() as probe:
                m = produce_confluent(bootstrap, topic, b"x" * RECORD_BYTES, budget.max_records, budget.seconds,
                                      cell.confluent_config(), budget.warmup_seconds)
            rows.append({**base, "client": "confluent-kafka", **m.columns(RECORD_BYTES), **probe.columns()})
            if not quick:  # the quick run (tests) skips the JVM: bench/producer/ covers it
                progress.set_postfix_str(f"RF {rf} acks {acks} java")
                count = budget.java_records(rows[-1]["records_per_s"])
                with LoadProbe() as probe:
                    java = produce_java(java_config, topic, cell, count, warmup=max(count // 5, 1), timeout_s=90)
                rows.append({**base, "client": "java", **java, **probe.columns()})
        progress.update(1)
    _add_ratios(rows)
    return rows


def _add_ratios(rows: list[dict[str, object]]) -> None:
    by_key = {(r["client"], r["replication_factor"], r["acks"]): r["records_per_s"] for r in rows}
    for r in rows:
        java = by_key.get(("java", r["replication_factor"], r["acks"]))
        rf1 = by_key.get((r["client"], 1, r["acks"]))
        mine = r["records_per_s"]
        r["ratio_to_java"] = round(mine / java, 4) if java and mine else None
        r["rf3_vs_rf1"] = round(mine / rf1, 4) if rf1 and mine else None


# ---- 2. failure timeline ---------------------------------------------------------------------

@dataclass
class Seconds:
    """Per-second counters of the failure run (index = whole seconds since the start)."""

    sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    acked: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    client_errors: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    events: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    brokers_up: dict[int, int] = field(default_factory=dict)


class Chaos(threading.Thread):
    """Kills one broker (kill -9) and restarts it on schedule; notes when its replicas are back in sync."""

    def __init__(self, cluster: LocalCluster, node_id: int, topic: str, plan: Timeline, started: float,
                 marks: Seconds) -> None:
        super().__init__(daemon=True)
        self.cluster, self.node_id, self.topic, self.plan = cluster, node_id, topic, plan
        self.started, self.marks = started, marks
        self.isr_full_after_restart_s: float | None = None
        self.error = ""

    def _mark(self, event: str) -> float:
        t = time.monotonic() - self.started
        self.marks.events[int(t)].append(event)
        return t

    def _sleep_until(self, t: float) -> None:
        time.sleep(max(0.0, self.started + t - time.monotonic()))

    def run(self) -> None:
        try:
            self._sleep_until(self.plan.kill_at_s)
            self.cluster.stop_broker(self.node_id, kill=True)
            self._mark(f"kill -9 broker {self.node_id}")
            self._sleep_until(self.plan.restart_at_s)
            restarted = self._mark(f"restart broker {self.node_id}")
            self.cluster.start_broker(self.node_id, wait=self.plan.wait_for_isr)
            if self.plan.wait_for_isr:
                wait_for_full_isr(self.cluster.bootstrap_servers, [self.topic], timeout_s=120)
                self.isr_full_after_restart_s = round(self._mark("isr full") - restarted, 2)
        except Exception as exc:  # reported by the experiment after the run
            self.error = f"{type(exc).__name__}: {exc}"


def _value(seq: int) -> bytes:
    return f"{seq:012d}".encode().ljust(TIMELINE_RECORD_BYTES, b".")


def produce_through_failure(cluster: LocalCluster, topic: str, plan: Timeline, progress) -> tuple[Seconds, set[int], set[int], Chaos, int]:
    from confluent_kafka import Producer

    marks = Seconds()
    acked: set[int] = set()
    failed: set[int] = set()
    started = time.monotonic()

    def second() -> int:
        return int(time.monotonic() - started)

    def on_delivery(err, msg) -> None:
        s = second()
        seq = int(msg.value()[:12])
        if err is None:
            acked.add(seq)
            marks.acked[s] += 1
            marks.latencies[s].append(msg.latency() * 1000.0)
        else:
            failed.add(seq)
            marks.errors[s] += 1

    def on_error(err) -> None:  # connection-level trouble while the broker is down
        marks.client_errors[second()] += 1

    producer = Producer(base_config(cluster.bootstrap_servers, **{
        "acks": "all", "enable.idempotence": True, "linger.ms": 5, "on_delivery": on_delivery,
        "error_cb": on_error, "message.timeout.ms": 120_000}))
    victim = next(p.leader for p in describe_partitions(cluster.bootstrap_servers, [topic]) if p.partition == 0)
    chaos = Chaos(cluster, victim, topic, plan, started, marks)
    chaos.start()
    seq = 0
    while (elapsed := time.monotonic() - started) < plan.seconds:
        due = int(elapsed * plan.rate_hz)  # absolute schedule: a stall is caught up, not skipped
        while seq < due:
            try:
                producer.produce(topic, _value(seq))
            except BufferError:
                break
            marks.sent[second()] += 1
            seq += 1
        producer.poll(0.01)
        s = second()
        if s not in marks.brokers_up:
            marks.brokers_up[s] = sum(1 for n in cluster.nodes() if n.running)
            progress.set_postfix_str(f"t={s}s sent {seq} acked {len(acked)}")
    progress.set_postfix_str("flushing")
    left = producer.flush(150)
    chaos.join(timeout=180)
    return marks, acked, failed, chaos, left


def read_back(bootstrap: str, topic: str) -> list[int]:
    """Every sequence number in the topic (read_committed, from the beginning, to the end offsets)."""
    from confluent_kafka import Consumer, TopicPartition

    client = Consumer(base_config(bootstrap, **{"group.id": f"bench-replication-{uuid.uuid4().hex[:8]}",
                                                "enable.auto.commit": False, "isolation.level": "read_committed"}))
    try:
        parts = [p.partition for p in describe_partitions(bootstrap, [topic])]
        ends = {p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
        client.assign([TopicPartition(topic, p, 0) for p in parts])
        seen: list[int] = []
        positions = {p: 0 for p in parts}
        deadline = time.monotonic() + 120
        while any(positions[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            for msg in client.consume(1000, 1.0):
                if msg.error():
                    continue
                seen.append(int(msg.value()[:12]))
                positions[msg.partition()] = msg.offset() + 1
        if any(positions[p] < ends[p] for p in parts):
            raise LabError(f"replication: could not read {topic} back to its end offsets within 120 s")
        return seen
    finally:
        client.close()


def _longest_stall(acked_per_second: dict[int, int], seconds: int) -> int:
    longest = run = 0
    for s in range(seconds):
        run = run + 1 if not acked_per_second.get(s) else 0
        longest = max(longest, run)
    return longest


def failure_rows(cluster: LocalCluster, plan: Timeline, progress) -> tuple[dict[str, object], list[dict[str, object]]]:
    bootstrap = cluster.bootstrap_servers
    with fresh_topic(bootstrap, "failure", 3, 3, min_insync_replicas=2) as topic:
        wait_for_ready(bootstrap, topic)
        wait_for_full_isr(bootstrap, [topic], timeout_s=60)
        with LoadProbe() as probe:
            marks, acked, failed, chaos, left = produce_through_failure(cluster, topic, plan, progress)
        if chaos.error:
            raise LabError(f"replication: the broker kill/restart failed: {chaos.error}")
        progress.set_postfix_str("reading everything back")
        seen = read_back(bootstrap, topic)
    found = set(seen)
    seconds = int(plan.seconds) + 1
    horizon = max([seconds, *marks.acked]) + 1  # to the last ack (an "isr full" later is in the summary)
    timeline = []
    for s in range(horizon):
        lat = marks.latencies.get(s, [])
        timeline.append({"t_s": s, "sent": marks.sent.get(s, 0), "acked": marks.acked.get(s, 0),
                         "errors": marks.errors.get(s, 0), "client_errors": marks.client_errors.get(s, 0),
                         **latency_percentiles(lat), "latency_max_ms": round(max(lat), 3) if lat else None,
                         "brokers_up": marks.brokers_up.get(s), "event": "; ".join(marks.events.get(s, []))})
    all_lat = [x for v in marks.latencies.values() for x in v]
    summary = {
        "kind": "failure", "client": "confluent-kafka", "replication_factor": 3, "min_insync_replicas": 2,
        "acks": "all", "record_bytes": TIMELINE_RECORD_BYTES, "rate_hz": plan.rate_hz,
        "killed_broker": chaos.node_id, "kill_at_s": plan.kill_at_s, "restart_at_s": plan.restart_at_s,
        "sent": sum(marks.sent.values()), "acked": len(acked), "errors": len(failed) + left,
        "lost": len(acked - found), "duplicates": len(seen) - len(found), "unacked_found": len(failed & found),
        "client_errors": sum(marks.client_errors.values()), "records": len(acked), "seconds": plan.seconds,
        "records_per_s": round(len(acked) / plan.seconds, 1), **latency_percentiles(all_lat),
        "latency_max_ms": round(max(all_lat), 3) if all_lat else None,
        "longest_stall_s": _longest_stall(marks.acked, seconds),
        "isr_full_after_restart_s": chaos.isr_full_after_restart_s, **probe.columns(),
    }
    return summary, timeline


def run(config: LabConfig, quick: bool = False, base_port: int = REPLICATION_BASE_PORT) -> int:
    plan = QUICK_TIMELINE if quick else FULL_TIMELINE
    echo = lambda msg: tqdm.write(f"[replication cluster] {msg}")  # noqa: E731
    with private_cluster(config, base_port, f"bench-replication-{base_port}", echo=echo) as cluster:
        with tqdm(total=5, desc="replication", unit="step") as progress:
            rows = [{**r, "quick": quick} for r in throughput_rows(config, cluster.bootstrap_servers, quick, progress)]
            append_rows(config.bench_dir / f"{EXPERIMENT}.csv", rows)
            progress.set_postfix_str("failure timeline")
            summary, timeline = failure_rows(cluster, plan, progress)
            progress.update(1)
    append_rows(config.bench_dir / f"{EXPERIMENT}_timeline.csv",
                [{"kill_at_s": plan.kill_at_s, "restart_at_s": plan.restart_at_s, **row, "quick": quick}
                 for row in timeline])
    append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [{**summary, "quick": quick}])
    if summary["lost"]:
        raise LabError(f"replication: {summary['lost']} acknowledged record(s) were lost (acks=all, RF 3, min ISR 2)")
    return len(rows) + 1
