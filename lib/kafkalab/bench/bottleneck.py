"""Bonus 4, the opposite: a bottleneck made on purpose, and removed by a second instance.

The market processor is slowed by its `delay_per_record_s` parameter (off everywhere else): each
step waits that long per record it consumed, as per-record work that waits on something slow
would. A sleep rather than a CPU loop, and rather than a sink that fsyncs every row, because it
makes one instance's capacity a setting, about 1 / delay records per second whatever else runs on
the two shared cores (a CPU cost would compete with the brokers, and two fsyncing sinks share one
disk), so a second instance really doubles the capacity and what the plot shows is the consumer
group at work. A step of STEP_RECORDS records waits about two seconds: long enough that the step's own
cost (its transaction, decoding), which grows on a busy machine, stays small beside the wait, short
enough that a rebalance is not held up for long.

A feed writes trades at a fixed RATE_PER_S into a fresh two-partition `trades` topic, above one
instance's capacity and below two's: with one instance the lag grows; at `join_at_s` a second
process joins the group, the rebalance gives each instance one partition, and the lag stops
growing and drains. Each symbol always goes to the same partition (symbol index mod partitions),
so both partitions carry the same load. Once the group has caught up (the lag under one second of
input: an instance that keeps up still holds what arrived during its step) and `hold_s` has passed,
the feed stops, the last records are processed and the idle rule closes the last
windows; then every candle is read back and compared with the candles recomputed from the trades
the feed wrote (bench.accounting's oracle).

Lag = records acknowledged to the feed minus records processed, per partition: processed is the
highest offset any instance has read in the partition (scaling._worker's `positions`), so what a
new owner re-reads after the rebalance (its open windows) is not counted twice.

results/bench/bottleneck_timeline.csv, one row per second:
    t_s (since the feed started), phase ("1 instance", "rebalancing": the second one started,
    "2 instances": the group is stable with both, "feed stopped"),
    instances (processes running), members and group_state (as the group coordinator says),
    produced (acknowledged), processed, lag, consumed_per_s (processed per second), event
results/bench/bottleneck.csv, one row per run:
    rate_per_s (the feed's target) and feed_rate_per_s (achieved), delay_per_record_ms,
    step_records, nominal_capacity_per_s (1 / delay), capacity_per_instance (measured: processed
    per second with one instance), lag_growth_per_s (one instance), drain_per_s (two),
    second_started_s, second_ready_s (from its start to the group stable with both),
    lag_at_join, lag_max, caught_up_lag (one second of input), time_to_caught_up_s (from the second
    instance's start to the lag under caught_up_lag), produced,
    processed, lost, consumed (every read, re-reads included), reread, candles, candles_expected,
    candle_mismatches, the processors' counters, load, errors and error_detail
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from kafkalab.bench import scaling
from kafkalab.bench.accounting import candle_mismatches, recompute_candles
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe
from kafkalab.config import LabConfig
from kafkalab.transports.kafka import clients

EXPERIMENT = "bottleneck"
PARTITIONS = 2
DELAY_PER_RECORD_S = 0.002  # the slowdown: at most 500 records/s per instance
STEP_RECORDS = 1000  # records per step: two seconds of waiting
# The feed: 1.2 times one instance's most, so two keep up as long as a step's own cost (its transaction:
# about a second per step was seen at a 1-min load average near 20 on the two cores) stays under 1.3 s.
RATE_PER_S = 600
CAUGHT_UP_LAG = RATE_PER_S  # one second of input
FEED_LINGER_MS = 50
FEED_TICK_S = 0.01
SAMPLE_S = 1.0
SETTLE_TIMEOUT_S = 30.0  # after the feed stops: the last records processed, the last windows closed
SYMBOLS = scaling.SYMBOLS


@dataclass(frozen=True)
class Grid:
    join_at_s: float  # when the second instance starts, after the feed started
    hold_s: float  # how long the lag stays low before the feed stops
    max_s: float  # the feed stops by then, caught up or not (then the run has failed)


QUICK, FULL = Grid(join_at_s=12, hold_s=3, max_s=90), Grid(join_at_s=30, hold_s=10, max_s=180)


# ---- the feed --------------------------------------------------------------------------------

class Feed:
    """Trades at a fixed rate into `topic` from a thread of this process; every trade kept for the
    candle oracle, the acknowledged records counted per partition (a fresh topic: its end offsets)."""

    def __init__(self, bootstrap: str, topic: str, rate_per_s: float, serializer: str, partitions: int) -> None:
        self.bootstrap, self.topic, self.rate, self.serializer = bootstrap, topic, rate_per_s, serializer
        self.partitions = partitions
        self.ends = [0] * partitions
        self.failed = 0
        self.error = ""
        self.trades: list[dict] = []
        self.started_at = self.stopped_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the last acknowledgements (once; a feed never started just stops)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=clients.FLUSH_TIMEOUT_S + 10)
            self.stopped_at = time.monotonic()

    @property
    def produced(self) -> int:
        return sum(self.ends)

    def rate_achieved(self) -> float:
        seconds = (self.stopped_at or time.monotonic()) - self.started_at
        return round(len(self.trades) / seconds, 1) if seconds > 0 else 0.0

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.failed += 1
        else:
            self.ends[msg.partition()] = max(self.ends[msg.partition()], msg.offset() + 1)

    def _run(self) -> None:
        from kafkalab.core.pacing import Pacer

        try:
            # fewer, larger produce requests than the lab's 5 ms linger: on a busy machine the brokers'
            # request handling slows every transaction the processors commit
            with clients.producer(self.bootstrap, on_delivery=self._delivered, linger_ms=FEED_LINGER_MS) as producer:
                pacer = Pacer(self.rate)
                while not self._stop.is_set():
                    due = pacer.due()
                    for _ in range(due):
                        self._send(producer)
                    pacer.sent(due)
                    producer.poll(0)
                    # wake up every FEED_TICK_S at most, sending what fell due meanwhile: a thread waking
                    # for every record would take CPU from the brokers on a busy machine
                    self._stop.wait(max(pacer.seconds_until_due(), FEED_TICK_S))
        except Exception as exc:  # reported with the row: a feed that died ends the run
            self.error = f"feed: {type(exc).__name__}: {exc}"

    def _send(self, producer) -> None:
        from kafkalab.core import serde
        from kafkalab.core.models import Trade, now_us

        i = len(self.trades)
        symbol_index = i % len(SYMBOLS)
        symbol, ts = SYMBOLS[symbol_index], now_us()
        trade = Trade(symbol, i // len(SYMBOLS) + 1, 100.0 + (i % 97) * 0.01, 1.0 + i % 5,
                      "buy" if i % 2 else "sell", ts, ts)
        value, headers = serde.encode(trade, self.serializer)
        while True:
            try:
                producer.produce(self.topic, value, symbol.encode(), partition=symbol_index % self.partitions,
                                 headers=headers)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.05)
        self.trades.append({"symbol": symbol, "trade_id": trade.trade_id, "price": trade.price,
                            "size": trade.size, "event_ts_us": ts})


# ---- the processor instances -------------------------------------------------------------------

class Instances:
    """Slowed processor instances of one group, started one at a time (scaling's worker processes)."""

    def __init__(self, config: LabConfig, topics, partitions: int, delay_per_record_s: float) -> None:
        self.ctx = mp.get_context("spawn")  # a clean interpreter per instance: no inherited Kafka clients
        self.config, self.topics, self.partitions = config, topics, partitions
        self.options = {"delay_per_record_s": delay_per_record_s}
        self.group = f"bench-bottleneck-{uuid.uuid4().hex[:8]}"
        self.stop_event, self.results = self.ctx.Event(), self.ctx.Queue()
        self.procs, self.counters, self.positions = [], [], []

    def start(self) -> None:
        counter, positions = self.ctx.Value("q", 0), self.ctx.Array("q", self.partitions)
        proc = scaling.instance_process(self.ctx, self.config, self.topics, self.group, len(self.procs), counter,
                                        self.stop_event, self.results, STEP_RECORDS, positions, self.options)
        self.procs.append(proc)
        self.counters.append(counter)
        self.positions.append(positions)
        proc.start()

    def running(self) -> int:
        return sum(1 for p in self.procs if p.is_alive())

    def processed(self) -> int:
        """Records read at least once: per partition, the highest next offset any instance reached."""
        return sum(max(pos[p] for pos in self.positions) for p in range(self.partitions)) if self.positions else 0

    def stop(self) -> list[dict]:
        return scaling.stop_instances(self.procs, self.stop_event, self.results)


# ---- one run -------------------------------------------------------------------------------------

# A run's moments (`marks`), in seconds since the feed started: second_started, second_ready,
# caught_up, feed_stopped, drained; each phase of the timeline begins at one of them.
PHASES = (("feed_stopped", "feed stopped"), ("second_ready", "2 instances"), ("second_started", "rebalancing"))


def _sample(t: float, feed: Feed, group: Instances, admin, previous: dict | None) -> dict:
    state, members = scaling.group_members(admin, group.group)
    processed, produced = group.processed(), feed.produced
    rate = (processed - previous["processed"]) / (t - previous["t_s"]) if previous and t > previous["t_s"] else 0.0
    return {"t_s": round(t, 2), "instances": group.running(), "members": members, "group_state": state,
            "produced": produced, "processed": processed, "lag": max(produced - processed, 0),
            "consumed_per_s": round(rate, 1)}


def _advance(t: float, row: dict, grid: Grid, feed: Feed, group: Instances, marks: dict) -> list[str]:
    """The next step of the experiment, if its moment has come; the events it caused."""
    events = []
    if "second_started" not in marks and t >= grid.join_at_s:
        group.start()
        marks["second_started"] = t
        events.append("second instance started")
    elif "second_started" in marks and "second_ready" not in marks and \
            (row["group_state"], row["members"]) == ("STABLE", 2):
        marks["second_ready"] = t
        events.append("group stable with 2 instances")
    elif "second_ready" in marks and "caught_up" not in marks and "feed_stopped" not in marks \
            and row["lag"] <= CAUGHT_UP_LAG:  # caught up with the feed, not merely drained after it stopped
        marks["caught_up"] = t
        events.append(f"caught up: lag under {CAUGHT_UP_LAG} records (one second of input)")
    elif "feed_stopped" not in marks and ("caught_up" in marks and t >= marks["caught_up"] + grid.hold_s
                                          or t >= grid.max_s):
        feed.stop()
        marks["feed_stopped"] = t
        events.append("feed stopped")
    return events


def _drive(grid: Grid, feed: Feed, group: Instances, progress) -> tuple[list[dict], dict, str]:
    """Sample every second and move the experiment on; ends once every record was processed after
    the feed stopped, or on a failure (its reason returned)."""
    admin = clients.admin(feed.bootstrap)
    marks, rows = {}, []
    while True:
        t = time.monotonic() - feed.started_at
        row = _sample(t, feed, group, admin, rows[-1] if rows else None)
        rows.append(row)
        drained = "feed_stopped" in marks and row["lag"] == 0 and row["produced"] > 0
        failure = "" if drained else _failure(t, feed, group, marks)
        events = [] if drained or failure else _advance(t, row, grid, feed, group, marks)
        # the row is named after what it starts: the sample at which the second instance started opens "rebalancing"
        row.update(phase=next((name for mark, name in PHASES if mark in marks), "1 instance"), event="; ".join(events))
        progress.set_postfix_str(f"{row['phase']}: lag {row['lag']:,}")
        if drained:
            marks["drained"] = t
        if drained or failure:
            return rows, marks, failure
        next_sample_at = feed.started_at + len(rows) * SAMPLE_S  # a sampling period, not a wait for something
        time.sleep(max(next_sample_at - time.monotonic(), 0.0))


def _failure(t: float, feed: Feed, group: Instances, marks: dict) -> str:
    if feed.error or feed.failed:
        return feed.error or f"{feed.failed} trade(s) not acknowledged"
    if group.running() < len(group.procs):
        return "a processor instance exited"
    if "feed_stopped" in marks and t > marks["feed_stopped"] + SETTLE_TIMEOUT_S:
        return f"lag not 0 within {SETTLE_TIMEOUT_S:g} s of the feed's stop"
    return ""


def read_candles(bootstrap: str, topic: str, expected: int) -> list[dict]:
    """Every committed candle, waiting (bounded) until the expected windows have all closed."""
    from kafkalab.core import serde

    messages = clients.read_messages(bootstrap, f"bench-bottleneck-read-{uuid.uuid4().hex[:6]}", [topic], expected,
                                     timeout_s=SETTLE_TIMEOUT_S, linger_s=1.0)
    candles = (serde.decode(m.value(), m.headers()) for m in messages)
    return [{f: getattr(c, f) for f in type(c).field_names()} for c in candles]


def run_once(config: LabConfig, topics, grid: Grid, progress) -> tuple[dict, list[dict]]:
    feed = Feed(config.bootstrap_servers, topics.trades, RATE_PER_S, config.serializer, PARTITIONS)
    group = Instances(config, topics, PARTITIONS, DELAY_PER_RECORD_S)
    candles = None
    try:
        group.start()
        scaling.wait_for_group(config.bootstrap_servers, group.group, 1, group.procs)
        with LoadProbe() as probe:
            feed.start()
            timeline, marks, failure = _drive(grid, feed, group, progress)
            if not failure and "caught_up" not in marks:
                failure = f"not caught up by {grid.max_s:g} s: the lag was still above {CAUGHT_UP_LAG} records"
            if not failure:
                expected = len(recompute_candles(feed.trades))
                candles = read_candles(config.bootstrap_servers, topics.candles, expected)
    finally:
        feed.stop()
        reports = group.stop()
    row = summarize(timeline, marks, grid)
    row.update(_accounting(feed, group, reports, candles, failure))
    return {**row, **probe.columns()}, timeline


def _accounting(feed: Feed, group: Instances, reports: list[dict], candles: list[dict] | None, failure: str) -> dict:
    """Nothing lost: every acknowledged trade processed, and the candles equal the recomputed ones
    (`candles` None: not read, the run failed before)."""
    problems = candle_mismatches(feed.trades, candles) if candles is not None else []
    totals = {k: sum(r["counters"].get(k, 0) for r in reports)
              for k in ("consumed", "late", "dead_letters", "transactions", "aborted")}
    processed = group.processed()
    errors = [failure] if failure else []
    errors += [r["error"] for r in reports if r["error"]]
    errors += [f"{len(group.procs) - len(reports)} instance(s) did not report"] if len(reports) < len(group.procs) else []
    errors += [f"{len(problems)} candle(s) differ, e.g. {problems[0]}"] if problems else []
    return {"produced": feed.produced, "processed": processed, "lost": feed.produced - processed,
            **totals, "reread": totals["consumed"] - processed,
            "per_instance": "/".join(str(r["counters"].get("consumed", 0))
                                     for r in sorted(reports, key=lambda r: r["instance"])),
            "candles": len(candles) if candles is not None else None,
            "candles_expected": len(recompute_candles(feed.trades)),
            "candle_mismatches": len(problems) if candles is not None else None, "feed_rate_per_s": feed.rate_achieved(),
            "errors": len(errors), "error_detail": "; ".join(errors)[:300]}


# ---- the figures of a run (pure: from the timeline) ----------------------------------------------

def slope(rows: list[dict], column: str) -> float | None:
    """Least-squares change of `column` per second over `rows` (None: fewer than two)."""
    if len(rows) < 2:
        return None
    return round(float(np.polyfit([r["t_s"] for r in rows], [r[column] for r in rows], 1)[0]), 1)


def summarize(timeline: list[dict], marks: dict, grid: Grid) -> dict:
    """The run's figures from its per-second timeline and its moments."""
    # rounded like the timeline's t_s, so a moment and the sample it was noted at compare equal
    started, ready, caught = (round(marks[k], 2) if k in marks else None
                              for k in ("second_started", "second_ready", "caught_up"))
    alone = [r for r in timeline if started is None or r["t_s"] <= started]
    drain = [r for r in timeline if ready is not None and r["t_s"] >= ready and (caught is None or r["t_s"] <= caught)]
    drain_slope = slope(drain, "lag")
    at_join = next((r["lag"] for r in timeline if ready is not None and r["t_s"] >= ready), None)

    def since_start(moment):
        return round(moment - started, 2) if moment is not None and started is not None else None

    return {"cell": f"p{PARTITIONS}-rate{RATE_PER_S}", "partitions": PARTITIONS, "rate_per_s": RATE_PER_S,
            "delay_per_record_ms": DELAY_PER_RECORD_S * 1000, "step_records": STEP_RECORDS,
            "nominal_capacity_per_s": round(1 / DELAY_PER_RECORD_S, 1), "join_at_s": grid.join_at_s,
            "capacity_per_instance": slope(alone, "processed"), "lag_growth_per_s": slope(alone, "lag"),
            "drain_per_s": -drain_slope if drain_slope is not None else None,
            "second_started_s": round(started, 2) if started is not None else None,
            "second_ready_s": since_start(ready), "lag_at_join": at_join,
            "lag_max": max((r["lag"] for r in timeline), default=0), "caught_up_lag": CAUGHT_UP_LAG,
            "time_to_caught_up_s": since_start(caught)}


def run(config: LabConfig, quick: bool = False) -> int:
    clients.require_reachable(config.bootstrap_servers)
    grid = QUICK if quick else FULL
    with tqdm(total=1, desc="bottleneck", unit="run") as progress, ExitStack() as stack:
        topics = scaling.topics_for(config, stack, PARTITIONS)  # fresh topics, deleted after the run
        row, timeline = run_once(config, topics, grid, progress)
        progress.update(1)
    row = {**row, "serializer": config.serializer, "quick": quick}
    append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [row])
    append_rows(config.bench_dir / f"{EXPERIMENT}_timeline.csv",
                [{**r, "rate_per_s": RATE_PER_S, "quick": quick} for r in timeline])
    scaling.raise_if_failed(EXPERIMENT, [row], "cell")
    print(f"bench bottleneck: {RATE_PER_S:,} trades/s into instances of about {row['capacity_per_instance']} "
          f"records/s: lag +{row['lag_growth_per_s']}/s with one, -{row['drain_per_s']}/s with two, "
          f"caught up {row['time_to_caught_up_s']} s after the second started; lost {row['lost']}, "
          f"candle differences {row['candle_mismatches']}")
    return 1
