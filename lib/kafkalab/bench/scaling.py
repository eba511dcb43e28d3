"""Scaling with partitions and consumer-group size: the real market processor, 1..6 processes.

For each cell (partitions x instances) fresh topics are created (`trades` with 1, 2, 3 or
6 partitions, and the processor's other four topics), then 1..N instances of
`kafkalab.transports.kafka.processor.MarketProcessor` (event-time 1 s windows, one
Kafka transaction per step, exactly once) start as separate processes in one consumer
group. Once the group is stable with every partition assigned, the parent writes the same
backlog of trades (48 synthetic symbols so keys spread evenly over partitions; the
application's 6 symbols would leave partitions empty - see the keys deep dive), encoded
with the lab's serializer, and the group drains it. The GIL and the 2 cores are the point:
threads would share one interpreter, processes do not, but all of them share the 2 cores
with the 3 brokers (and the parent writing the backlog for its first second or so).

Throughput = records consumed by the group / (last consumed record - first consumed
record, over all instances). Lag = backlog minus records consumed so far, sampled every
LAG_SAMPLE_S (results/bench/scaling_timeline.csv). CPU: the CPU seconds of the instances and
of the brokers' JVMs (found by listening port) over the drain (from writing the backlog
to the last record); `*_cores` = CPU seconds / wall seconds, so worker_cores +
broker_cores near 2.0 means the machine is the limit, not Kafka's parallelism.

Columns of results/bench/scaling.csv (plus run_id, run_at, machine and versions):
    cell            "p<partitions>-i<instances>"
    processor       which processor ran (kafkalab.transports.kafka.processor.MarketProcessor)
    serializer      the lab's serializer for the trades
    partitions, instances
    busy_instances  instances that consumed at least one record (more instances than
                    partitions leaves some idle)
    records         records consumed by the group (the backlog)
    seconds         first to last consumed record
    records_per_s, mb_per_s
    per_instance    records per instance, "a/b/c"
    candles, late, dead_letters, transactions, aborted   processor counters, summed
    lag_max         largest sampled lag (records)
    worker_cpu_s, worker_cores, broker_cpu_s, broker_cores
    machine_cpu_percent, load_avg_1m
    errors          instances that failed or did not stop in time
    quick           True for a --quick run (tiny samples)

Columns of results/bench/scaling_timeline.csv:
    cell, partitions, instances, t_s (since the instances started), consumed, lag
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from contextlib import ExitStack

import psutil
from tqdm import tqdm

from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.transports.kafka.processor import BATCH_SIZE
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import (Backlog, LoadProbe, broker_pids, fill_topic, fresh_topic, mb_per_s, records_per_s,
                      trade_backlog, wait_for_ready)

EXPERIMENT = "scaling"
PROCESSOR = "kafkalab.transports.kafka.processor.MarketProcessor"
SYMBOLS = tuple(f"S{i:02d}" for i in range(48))
TRADES_PER_EVENT_SECOND = 2000  # event-time density of the backlog: candles per symbol-second
CELLS = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (6, 1), (6, 2), (6, 3), (6, 6))
QUICK_CELLS = ((2, 1), (2, 2))
RECORDS = 120_000
QUICK_RECORDS = 4_000
LAG_SAMPLE_S = 0.5
WORKER_MAX_S = 180.0  # an instance stops by itself after this, whatever happens
START_TIMEOUT_S = 60.0


# ---- the worker process ----------------------------------------------------------------------

def _worker(config: LabConfig, topics, group_id: str, instance: int, consumed, stop, results,
            batch_size: int, positions=None, options: dict | None = None) -> None:
    """One processor instance: run until `stop` is set; report counters and times.

    `positions` (a shared array, one slot per `trades` partition) receives the highest next offset
    this instance has read in each partition, so the parent can tell lag without double counting what
    a new owner re-reads after a rebalance; `options` are further MarketProcessor arguments."""
    import contextlib
    import io

    from kafkalab.runtime.loop import Bounds, run_loop
    from kafkalab.transports.kafka.processor import MarketProcessor

    class TimedProcessor(MarketProcessor):
        first_at: float | None = None
        last_at: float | None = None

        def step(self) -> None:
            # The clock starts when the first step that gets records starts, so that step's work counts
            # (one step can hold a whole small backlog). Its wait for the first fetch counts too: at most
            # poll_timeout_s.
            before, started = self.counters["consumed"], time.time()
            super().step()
            after = self.counters["consumed"]
            if after > before:
                self.first_at = self.first_at or started
                self.last_at = time.time()
                with consumed.get_lock():
                    consumed.value = after
                if positions is not None:
                    self.publish_positions()

        def publish_positions(self) -> None:
            for (topic, partition), part in list(self.partitions.items()):
                if topic == topics.trades and part.next_offset > positions[partition]:
                    positions[partition] = part.next_offset

    processor = TimedProcessor(config, group_id=group_id, instance=str(instance), topics=topics,
                               batch_size=batch_size, **(options or {}))
    threading.Thread(target=lambda: (stop.wait(), processor.stop()), daemon=True).start()
    error = ""
    counters: dict[str, int] = {}
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the processor's notices are not our output
            counters = run_loop(processor, Bounds(max_seconds=WORKER_MAX_S), progress=None)
    except Exception as exc:  # reported to the parent, which records the failure
        error = f"{type(exc).__name__}: {exc}"
    results.put({"instance": instance, "counters": counters or processor.counters.snapshot(),
                 "first_at": processor.first_at, "last_at": processor.last_at, "error": error})


# ---- one cell --------------------------------------------------------------------------------

def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def group_members(client, group: str) -> tuple[str, int]:
    """The group's state (e.g. "STABLE", "PREPARING_REBALANCING") and member count, as the broker says."""
    try:
        desc = client.describe_consumer_groups([group])[group].result(timeout=10)
    except Exception:  # the group does not exist until the first member joins
        return "UNKNOWN", 0
    return desc.state.name, len(desc.members)


def wait_for_group(bootstrap: str, group: str, instances: int, procs, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until the group is stable with `instances` members (raises if an instance died first)."""
    from kafkalab.transports.kafka.clients import admin

    client = admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not all(p.is_alive() for p in procs):
            raise LabError(f"scaling: a processor instance of group {group} exited during start-up")
        if group_members(client, group) == ("STABLE", instances):
            return
        time.sleep(0.3)
    raise LabError(f"scaling: group {group} did not become stable with {instances} members within {timeout_s:g} s")


def instance_process(ctx, config: LabConfig, topics, group: str, instance: int, consumed, stop, results,
                     batch_size: int = BATCH_SIZE, positions=None, options: dict | None = None):
    """One processor instance as a (not yet started) process of `ctx`: see _worker."""
    return ctx.Process(target=_worker, daemon=True,
                       args=(config, topics, group, instance, consumed, stop, results, batch_size, positions, options))


def stop_instances(procs, stop, results) -> list[dict]:
    """Ask every instance to stop and collect their reports (an instance that died reports nothing)."""
    stop.set()
    reports: list[dict] = []
    for p in procs:
        if p.pid is None:  # never started
            continue
        try:
            reports.append(results.get(timeout=60))
        except Exception:  # an instance that died reports nothing; counted as an error
            break
    for p in procs:
        if p.pid is None:
            continue
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    return reports


def run_cell(config: LabConfig, topics, partitions: int, instances: int, backlog: Backlog,
             progress, batch_size: int = BATCH_SIZE,
             prefill: bool = False) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Drain `backlog` with `instances` processors. By default the backlog is written once the group
    is stable (no join time in the figure, but the writer then runs beside the instances and can
    bound the rate); prefill=True writes it before they start: the instances' own drain rate."""
    ctx = mp.get_context("spawn")  # a clean interpreter per instance: no inherited Kafka clients
    cell = f"p{partitions}-i{instances}"
    group = f"bench-scaling-{uuid.uuid4().hex[:8]}"
    expected = len(backlog.values)
    counters = [ctx.Value("q", 0) for _ in range(instances)]
    stop, results = ctx.Event(), ctx.Queue()
    procs = [instance_process(ctx, config, topics, group, i, counters[i], stop, results, batch_size)
             for i in range(instances)]
    timeline: list[dict[str, object]] = []
    lag_max = 0
    brokers = broker_pids(config.bootstrap_servers)

    def write_backlog() -> None:
        progress.set_postfix_str(f"{cell}: writing {expected} trades")
        fill_topic(config.bootstrap_servers, topics.trades, backlog.values, backlog.keys, headers=backlog.headers)

    try:
        if prefill:
            write_backlog()
        progress.set_postfix_str(f"{cell}: starting {instances} instance(s)")
        for p in procs:
            p.start()
        wait_for_group(config.bootstrap_servers, group, instances, procs)
        workers = [p.pid for p in procs]
        broker_before, worker_before = _cpu_s(brokers), _cpu_s(workers)
        with LoadProbe() as probe:
            started = time.monotonic()
            if not prefill:
                write_backlog()
            deadline = started + WORKER_MAX_S
            while time.monotonic() < deadline:
                done = sum(c.value for c in counters)
                lag_max = max(lag_max, expected - done)
                timeline.append({"cell": cell, "partitions": partitions, "instances": instances,
                                 "t_s": round(time.monotonic() - started, 2), "consumed": done,
                                 "lag": expected - done})
                progress.set_postfix_str(f"{cell}: consumed {done}/{expected}")
                if done >= expected or not any(p.is_alive() for p in procs):
                    break
                time.sleep(LAG_SAMPLE_S)
        broker_cpu, worker_cpu = _cpu_s(brokers) - broker_before, _cpu_s(workers) - worker_before
    finally:
        reports = stop_instances(procs, stop, results)
    row = _summary(cell, partitions, instances, backlog, reports, lag_max, worker_cpu, broker_cpu, probe)
    if row["records"] < expected and not row["errors"]:  # a drain that stopped short is a failed cell
        row["errors"], row["error_detail"] = 1, f"consumed {row['records']} of {expected}"
    return {**row, "batch_size": batch_size, "prefilled": prefill}, timeline


def raise_if_failed(experiment: str, rows: list[dict], label: str) -> None:
    """One line naming how many drains failed and the first one's reason (its row keeps the rest)."""
    failed = [r for r in rows if r["errors"]]
    if failed:
        raise LabError(f"{experiment}: {len(failed)} drain(s) failed, e.g. {failed[0][label]}: "
                       f"{failed[0]['error_detail'] or f'see results/bench/{experiment}.csv'}")


def _summary(cell: str, partitions: int, instances: int, backlog: Backlog, reports: list[dict],
             lag_max: int, worker_cpu: float, broker_cpu: float, probe: LoadProbe) -> dict[str, object]:
    firsts = [r["first_at"] for r in reports if r["first_at"]]
    lasts = [r["last_at"] for r in reports if r["last_at"]]
    seconds = max(lasts) - min(firsts) if firsts and lasts else 0.0
    per_instance = [r["counters"].get("consumed", 0) for r in sorted(reports, key=lambda r: r["instance"])]
    records = sum(per_instance)
    total = {k: sum(r["counters"].get(k, 0) for r in reports)
             for k in ("candles", "late", "dead_letters", "transactions", "aborted")}
    wall = probe.seconds
    avg_bytes = backlog.value_bytes / len(backlog.values)
    return {
        "cell": cell, "processor": PROCESSOR, "partitions": partitions, "instances": instances,
        "busy_instances": sum(1 for n in per_instance if n), "records": records, "seconds": round(seconds, 3),
        "records_per_s": records_per_s(records, seconds), "mb_per_s": mb_per_s(records, avg_bytes, seconds),
        "per_instance": "/".join(map(str, per_instance)), **total, "lag_max": lag_max,
        "worker_cpu_s": round(worker_cpu, 2), "worker_cores": round(worker_cpu / wall, 2) if wall else None,
        "broker_cpu_s": round(broker_cpu, 2), "broker_cores": round(broker_cpu / wall, 2) if wall else None,
        **probe.columns(),
        "errors": (instances - len(reports)) + sum(1 for r in reports if r["error"]),
        "error_detail": "; ".join(r["error"] for r in reports if r["error"])[:300],
    }


def topics_for(config: LabConfig, stack: ExitStack, partitions: int):
    from kafkalab.transports.kafka.processor import Topics

    bootstrap = config.bootstrap_servers
    names = {role: stack.enter_context(fresh_topic(bootstrap, f"scaling-{role}", parts))
             for role, parts in (("trades", partitions), ("orderbooks", partitions), ("candles", 3),
                                 ("book-features", 3), ("dead-letters", 1))}
    for name in names.values():
        wait_for_ready(bootstrap, name)
    return Topics(names["trades"], names["orderbooks"], names["candles"], names["book-features"],
                  names["dead-letters"])


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    cells = QUICK_CELLS if quick else CELLS
    backlog = trade_backlog(QUICK_RECORDS if quick else RECORDS, config.serializer, SYMBOLS,
                            TRADES_PER_EVENT_SECOND)
    rows, timeline = [], []
    with tqdm(total=len(cells), desc="scaling", unit="cell") as progress:
        for partitions, instances in cells:
            with ExitStack() as stack:  # fresh topics per cell, deleted after it
                topics = topics_for(config, stack, partitions)
                row, samples = run_cell(config, topics, partitions, instances, backlog, progress)
            rows.append({**row, "serializer": config.serializer, "quick": quick})
            timeline += [{**s, "quick": quick} for s in samples]
            append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [rows[-1]])
            progress.update(1)
    append_rows(config.bench_dir / f"{EXPERIMENT}_timeline.csv", timeline)
    raise_if_failed(EXPERIMENT, rows, "cell")
    return len(rows)
