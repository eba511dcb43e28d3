"""`kafkalab bench transports`: the same load over every transport, side by side in one run.

Each transport measures itself with its durable settings (`kafkalab.transports.<t>.bench
.measure(config, quick) -> rows`), labelled in the `durability` column: Kafka acks=all RF 3
min.isr 2, RabbitMQ publisher confirms into quorum queues on three nodes, ZeroMQ none.
Long format, one row per measurement, appended to results/bench/transports.csv.
Each transport's broker comes from its TransportPlan: the running one, else the local cluster
started for the measurement and stopped after it (as `kafkalab run --transport T` does).
A transport whose bench module is absent, or whose broker cannot be had, is skipped with one
line; the others still run.

Per component, every transport also runs the whole pipeline (`kafkalab run`'s runner, one
process per component) at the same trade rate and records each component's CPU (% of one
core over the run) and peak memory: component_cpu_pct and component_rss_mib, with a
`component` column.

sustained_rate, the same rule for every transport: the whole pipeline runs once per rung of a
ladder of trade rates, upwards, until a rung is not sustained, then once between the last two
(not in --quick). Sustained means the generator
reached 95 % of the rate (by the trades' own timestamps), every trade it counted (confirmed by
the broker; ZeroMQ: handed to the socket) is stored exactly once, trades were written within
PACE_S (p99) of being produced and candles within PACE_S plus the 1.5 s the processor holds a
window by design. The row says which rung stopped the ladder, and why (`stopped_by`).

Where the broker acknowledges (Kafka, RabbitMQ), the same pipeline also runs with its trades
sink killed (-9) mid-run and restarted by the runner: lost_under_consumer_kill = trades the
broker acknowledged minus trades stored, duplicates_under_consumer_kill = rows stored twice.
ZeroMQ measures its loss itself, against the gaps its consumers count.
"""

from __future__ import annotations

import importlib
import math
import os
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from kafkalab.bench.common import append_rows
from kafkalab.bench.pipeline_rows import WARMUP_S, processor_held_s, production_rate
from kafkalab.config import LabConfig
from kafkalab.core.csvstore import CANDLES_CSV, TRADES_CSV
from kafkalab.errors import LabError
from kafkalab.pipeline.launcher import PipelineError
from kafkalab.pipeline.plan import PipelinePlan, private_plan, transport_plan
from kafkalab.pipeline.resources import ResourceMeter
from kafkalab.pipeline.runner import NO_RESTARTS, Pipeline, RestartPolicy, run_plan
from kafkalab.runtime.loop import last_printed
from kafkalab.runtime.params import TRADE_GENERATOR, TRADES_SINK

TRANSPORTS = ("kafka", "rabbitmq", "zeromq")
TABLE = "transports.csv"
USAGE_RATE_HZ = 1000  # trades/s: every transport sustains it on this machine, so the costs compare
USAGE_SECONDS, QUICK_USAGE_SECONDS = 30.0, 10.0
ACKNOWLEDGING = ("kafka", "rabbitmq")  # their generators count what the broker confirmed
KILL_SECONDS, QUICK_KILL_SECONDS = 20.0, 10.0
KILL_AFTER_S = 2.0  # of trades stored before the kill: the sink is in its stride, not starting


def load_bench(transport: str):
    """`kafkalab.transports.<t>.bench`, or None when this checkout does not have it."""
    name = f"kafkalab.transports.{transport}.bench"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise


def run(config: LabConfig, quick: bool = False) -> int:
    rows = []
    for transport in TRANSPORTS:
        module = load_bench(transport)
        if module is None:
            print(f"transports: {transport} skipped (kafkalab.transports.{transport}.bench is not in this checkout)")
            continue
        try:
            with transport_plan(transport).broker(config, print):
                measured = module.measure(config, quick)
                measured += component_usage(config, transport, module.DURABILITY, quick)
                measured += sustained_rate(config, transport, module.DURABILITY, quick)
                if transport in ACKNOWLEDGING:
                    measured += loss_under_consumer_kill(config, transport, module.DURABILITY, quick)
        except LabError as exc:
            print(f"transports: {transport} skipped ({exc})")
            continue
        for row in measured:
            print(f"  {row['transport']:<9} {row['metric']:<30} {row.get('component', ''):<20} {row['value']:>12,.2f} "
                  f"{row['unit']:<14} {'at ' + str(row['rate_hz']) + ' Hz' if 'rate_hz' in row else '':<12} "
                  f"{row['durability']}")
        # the machine is shared: how busy it was belongs next to every figure
        rows += [{"quick": quick, "load_avg_1m": round(os.getloadavg()[0], 1), **row} for row in measured]
    append_rows(config.bench_dir / TABLE, rows)
    print(f"transports: {len(rows)} rows appended to {config.bench_dir / TABLE}")
    return 0


def component_usage(config: LabConfig, transport: str, durability: str, quick: bool,
                    seconds: float | None = None) -> list[dict]:
    """The whole pipeline over `transport` at USAGE_RATE_HZ: each component's CPU and peak memory."""
    seconds = seconds or (QUICK_USAGE_SECONDS if quick else USAGE_SECONDS)
    meter = ResourceMeter()
    with _private_run(config, transport, "usage", seconds) as (run_config, plan):
        run_plan(run_config, plan, echo=lambda _: None, show_progress=False, mode="python", restart=NO_RESTARTS,
                 meter=meter)
    setting = (f"whole pipeline, one process per component, {USAGE_RATE_HZ} trades/s for {seconds:g} s; CPU over "
               f"the {meter.steady_s:.1f} s all five ran (start-up left out), memory the peak of the run")
    common = {"transport": transport, "durability": durability, "client": "kafkalab run (python mode)",
              "client_version": "", "rate_hz": USAGE_RATE_HZ, "setting": setting}
    rows = []
    for name, usage in meter.usage.items():
        cpu = meter.steady_cpu_percent(name)
        rows += [{**common, "component": name, "metric": "component_cpu_pct", "unit": "% of one core",
                  "value": round(cpu, 1) if cpu is not None else float("nan")},
                 {**common, "component": name, "metric": "component_rss_mib", "value": round(usage.peak_rss_mib, 1),
                  "unit": "MiB"}]
    return rows


@contextmanager
def _private_run(config: LabConfig, transport: str, tag: str, seconds: float,
                 rate_hz: float = USAGE_RATE_HZ) -> Iterator[tuple[LabConfig, PipelinePlan]]:
    """A plan at `rate_hz` for `seconds` and a config writing to a temporary results folder."""
    overrides = {TRADE_GENERATOR: {"rate_hz": rate_hz}}
    # Kafka gets topics and groups of its own; the other transports have no per-run names to choose
    plan = (private_plan(f"bench-{tag}-{uuid.uuid4().hex[:6]}", seconds, overrides) if transport == "kafka"
            else PipelinePlan(seconds, overrides=overrides))
    try:
        with tempfile.TemporaryDirectory(prefix=f"kl-{tag}-") as results_dir:
            yield config.with_overrides(transport=transport, results_dir=results_dir), plan
    finally:
        if transport == "kafka":
            from kafkalab.transports.kafka.clients import delete_topics

            delete_topics(config.bootstrap_servers, list(plan.shared_params.streams.values()))


class KeepPipeline:
    """`run_plan(during=...)`: keeps the Pipeline, so its components' output can be read after the run
    (`run_plan` returns only an exit code)."""

    def __init__(self) -> None:
        self.pipeline: Pipeline | None = None

    def __call__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def output_of(self, component: str) -> str:
        return self.pipeline.processes[component].output() if self.pipeline else ""


class KillOnce(KeepPipeline):
    """Also kill -9 of one component, once this run's trades file holds `after_rows`."""

    def __init__(self, component: str, after_rows: int) -> None:
        super().__init__()
        self.component, self.after_rows = component, after_rows
        self.killed_at_rows: int | None = None

    def __call__(self, pipeline: Pipeline) -> None:
        super().__call__(pipeline)
        if self.killed_at_rows is not None:
            return
        stored = pipeline.counters["trades"].rows_added()  # only the file that decides, not all three
        if stored >= self.after_rows:
            self.killed_at_rows = stored
            pipeline.processes[self.component].kill()


def loss_under_consumer_kill(config: LabConfig, transport: str, durability: str, quick: bool,
                             seconds: float | None = None) -> list[dict]:
    """The whole pipeline at USAGE_RATE_HZ with the trades sink killed (-9) once and restarted by the
    runner: what the broker acknowledged against what trades.csv holds."""
    seconds = seconds or (QUICK_KILL_SECONDS if quick else KILL_SECONDS)
    kill = KillOnce(TRADES_SINK, int(USAGE_RATE_HZ * KILL_AFTER_S))
    with _private_run(config, transport, "kill", seconds) as (run_config, plan):
        run_plan(run_config, plan, echo=lambda _: None, show_progress=False, mode="python",
                 restart=RestartPolicy(max_restarts=1), during=kill)
        trades = pd.read_csv(run_config.data_dir / TRADES_CSV, usecols=["symbol", "trade_id"])
        acked = last_printed(kill.output_of(TRADE_GENERATOR), "acked") or 0  # its log is in the folder
    if kill.killed_at_rows is None:
        raise LabError(f"bench transports: the {transport} trades sink stored fewer than {kill.after_rows} trades "
                       f"in {seconds:g} s; nothing was killed")
    unique = len(trades.drop_duplicates())
    setting = (f"whole pipeline at {USAGE_RATE_HZ} trades/s for {seconds:g} s; trades sink kill -9 after "
               f"{kill.killed_at_rows:,} rows, restarted by the runner; {acked:,} acknowledged, {unique:,} stored")
    restarts = sum(1 for name, _ in kill.pipeline.restarts if name == TRADES_SINK)
    common = {"transport": transport, "durability": durability, "client": "kafkalab run (python mode)",
              "client_version": "", "rate_hz": USAGE_RATE_HZ, "setting": setting, "unit": "count",
              "acknowledged": acked, "stored": unique, "killed_after_rows": kill.killed_at_rows, "restarts": restarts}
    return [{**common, "metric": "lost_under_consumer_kill", "value": acked - unique},
            {**common, "metric": "duplicates_under_consumer_kill", "value": len(trades) - unique}]


# ---- the highest rate the whole pipeline sustains, the same rule for every transport ---------

SUSTAIN_LADDER = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
QUICK_SUSTAIN_LADDER = (2_000, 10_000)
SUSTAIN_SECONDS, QUICK_SUSTAIN_SECONDS = 10.0, 4.0
REACHED_SHARE = 0.95  # of the offered rate, by the trades' own produced timestamps
PACE_S = 1.0  # p99 of written - produced; a falling-behind sink's lag grows for the whole run
# The generator's count of trades that must be stored: what the broker confirmed, or (ZeroMQ, no
# acknowledgements) what was handed to the socket, so a high-water-mark drop is a loss here.
SENT_COUNTER = {"kafka": "acked", "rabbitmq": "acked", "zeromq": "produced"}


@dataclass(frozen=True)
class Rung:
    """One run of the whole pipeline at one offered rate, as far as keeping pace goes."""

    rate_hz: float
    reached_hz: float
    sent: int
    stored: int
    trades_p99_s: float  # written - produced, after the warm-up
    candles_p99_s: float  # written - window end, after the warm-up

    def shortfall(self) -> str:
        """Why this rate was not sustained, or "" if it was."""
        if self.reached_hz < REACHED_SHARE * self.rate_hz:
            return f"the generator reached {self.reached_hz:,.0f}/s"
        if self.stored != self.sent:
            return f"{self.sent - self.stored:,} of {self.sent:,} trades not stored"
        if not self.trades_p99_s <= PACE_S:
            return f"trades p99 {self.trades_p99_s:.2f} s after produced"
        if not self.candles_p99_s <= PACE_S + processor_held_s():
            return f"candles p99 {self.candles_p99_s:.2f} s after their window closed"
        return ""


def rung_of(rate_hz: float, sent: int, trades: pd.DataFrame, candles: pd.DataFrame) -> Rung:
    """Pure: a Rung from the run's trades.csv and candles.csv rows. The times leave out the warm-up,
    and the candles of windows that ended in the last `processor_held_s()` of event time: a window
    is closed by a later trade of its partition beyond its end plus the allowed lateness, and
    where none came before the generator stopped, the processor's idle rule closes it seconds
    later, by design."""
    unique = len(trades.drop_duplicates(["symbol", "trade_id"]))
    cut = int(trades.produced_ts_us.min()) + int(WARMUP_S * 1e6) if len(trades) else 0
    last_closing = int(trades.event_ts_us.max()) - int(processor_held_s() * 1e6) if len(trades) else 0
    steady = trades[trades.produced_ts_us >= cut]
    closed = candles[(candles.window_end_us >= cut) & (candles.window_end_us <= last_closing)]

    def p99_s(delays_us: pd.Series) -> float:
        return float(np.percentile(delays_us, 99)) / 1e6 if len(delays_us) else float("nan")

    return Rung(rate_hz, production_rate(trades), sent, unique, p99_s(steady.written_ts_us - steady.produced_ts_us),
                p99_s(closed.written_ts_us - closed.window_end_us))


def run_rung(config: LabConfig, transport: str, rate_hz: float, seconds: float) -> Rung:
    keep = KeepPipeline()
    with _private_run(config, transport, "pace", seconds, rate_hz) as (run_config, plan):
        run_plan(run_config, plan, echo=lambda _: None, show_progress=False, mode="python", restart=NO_RESTARTS,
                 during=keep)
        trades = pd.read_csv(run_config.data_dir / TRADES_CSV,
                             usecols=["symbol", "trade_id", "event_ts_us", "produced_ts_us", "written_ts_us"])
        candles = pd.read_csv(run_config.data_dir / CANDLES_CSV, usecols=["window_end_us", "written_ts_us"])
        sent = last_printed(keep.output_of(TRADE_GENERATOR), SENT_COUNTER[transport]) or 0
    return rung_of(rate_hz, sent, trades, candles)


def midpoint(sustained: float, failed: float) -> int | None:
    """The rate between the highest sustained rung and the first failed one (geometric, to 100/s),
    or None when nothing was sustained or no rate lies between."""
    if not sustained:
        return None
    between = int(round(math.sqrt(sustained * failed), -2))
    return between if sustained < between < failed else None


def _shortfall(config: LabConfig, transport: str, rate: float, seconds: float) -> str:
    try:
        return run_rung(config, transport, rate, seconds).shortfall()
    except PipelineError as exc:  # a component that fails under the load has not sustained it
        return f"the pipeline failed: {exc}"


def sustained_rate(config: LabConfig, transport: str, durability: str, quick: bool, ladder=None,
                   seconds: float | None = None, bisect: bool | None = None) -> list[dict]:
    """Up the ladder until a rung is not sustained, then (bisect, the default unless quick) one more
    rung at the geometric midpoint of the last two: the whole pipeline, one process per component."""
    ladder = ladder or (QUICK_SUSTAIN_LADDER if quick else SUSTAIN_LADDER)
    seconds = seconds or (QUICK_SUSTAIN_SECONDS if quick else SUSTAIN_SECONDS)
    bisect = not quick if bisect is None else bisect
    best, stopped_by = 0, "every rung sustained"
    rungs = tqdm(total=len(ladder) + bisect, desc=f"{transport} sustained rate", unit="rung", leave=False)
    with rungs:
        for rate in ladder:
            shortfall = _shortfall(config, transport, rate, seconds)
            rungs.update(1)
            if shortfall:
                stopped_by = f"{rate:,}/s not sustained: {shortfall}"
                break
            best = rate
        between = midpoint(best, rate) if bisect and stopped_by != "every rung sustained" else None
        if between is not None:
            shortfall = _shortfall(config, transport, between, seconds)
            if shortfall:
                stopped_by = f"{between:,}/s not sustained: {shortfall}"
            else:
                best = between
        rungs.update(1 if bisect else 0)
    tried = "/".join(map(str, ladder)) + (" and one rung between the last two" if bisect else "")
    setting = (f"whole pipeline, one process per component, {seconds:g} s per rung of {tried} "
               f"trades/s; sustained = the generator reached {REACHED_SHARE:.0%} of the rate, every trade it "
               f"counted stored once, trades p99 within {PACE_S:g} s of produced and candles within "
               f"{PACE_S + processor_held_s():g} s of their window's end")
    return [{"transport": transport, "metric": "sustained_rate", "value": best, "unit": "msg/s",
             "durability": durability, "client": "kafkalab run (python mode)", "client_version": "",
             "setting": setting, "stopped_by": stopped_by}]
