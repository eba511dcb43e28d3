"""Reliability: the pipeline under broker loss, measured (`kafkalab bench reliability`).

The experiment starts its OWN private 3-node cluster (ports from RELIABILITY_BASE_PORT,
folder .run/reliability-cluster; it never touches a cluster a user runs), runs the whole
pipeline - the two generators, the processor and the two sinks, each its own process
started by the pipeline launcher (kafkalab.pipeline.launcher) - at a high trade rate, and
breaks brokers while it runs:

    kill-one      kill -9 one broker, restart it after a while
    two-down      stop a second broker while the first is still down: one broker left,
                  below min.insync.replicas=2 (and below the KRaft quorum); then bring
                  one back, then the other

Each scenario is one pipeline run on fresh topics and groups. After the generators end,
the run drains (every consumer group at lag 0), stops the consumers cleanly (stop file)
and compares what the trade generator saw acknowledged (its acked-records file) with
what the trades sink stored.

results/bench/reliability.csv, one row per scenario (plus bench.common's run id, time,
machine and versions):

    scenario            kill-one | two-down
    trade_rate_hz       target trade rate of the generator (records/s)
    run_s               how long the generators ran (s)
    produced            records the trade generator handed to its producer
    acked               records acknowledged by Kafka (delivery report without error)
    failed              records whose delivery report was an error (not acknowledged)
    stored              rows in trades.csv
    duplicated          rows in trades.csv beyond the first for a (symbol, trade_id)
    lost                acknowledged records missing from trades.csv (must be 0)
    unacked_stored      rows in trades.csv the generator never saw acknowledged
    candles             candle rows; candle_mismatches: windows whose candle differs from the
                        one recomputed from trades.csv (must be 0)
    ack_gap_max_s       longest pause in acknowledgements during the run (s)
    ack_resume_s        after the broker restart that restores min ISR: seconds until
                        acknowledgements flow again (two-down), or ack gap around the kill (kill-one)
    isr_full_s          after the last broker restart: seconds until every partition of the
                        run's topics has its full ISR again
    not_enough_replicas_reports  lines in the trade generator's log naming NOT_ENOUGH_REPLICAS
    generator_errors    distinct one-line errors the trade generator printed (first few, ';'-joined)
"""

from __future__ import annotations

import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kafkalab import config as lab_config
from kafkalab.bench.accounting import AckWatch, candle_mismatches, generator_counters, generator_errors, read_rows, tally
from kafkalab.config import LabConfig
from kafkalab.pipeline.launcher import ComponentProcess, PipelineError
from kafkalab.pipeline.plan import CONSUMERS, PipelinePlan, private_plan
from kafkalab.pipeline.runner import NO_RESTARTS, Pipeline
from kafkalab.runtime.params import GENERATORS, ORDERBOOK_GENERATOR, TRADE_GENERATOR
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.components import group_id, input_topics
from kafkalab.transports.kafka.lag import LagProbe
from kafkalab.transports.kafka.plan import PLAN as KAFKA_PLAN

RELIABILITY_BASE_PORT = 29092


@dataclass
class PipelineRun:
    """The five components of one run, on their own topics, groups and results folder, each
    its own process through the pipeline launcher ("python" mode: no kernel start-up)."""

    config: LabConfig
    tag: str
    pipeline: Pipeline | None = None

    @classmethod
    def fresh(cls, bootstrap: str, results_dir: Path, tag: str = "", serializer: str = "json") -> "PipelineRun":
        config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(results_dir), serializer=serializer,
                                 transport="kafka")
        return cls(config, f"rel-{tag or uuid.uuid4().hex[:8]}")

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap_servers

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def acked_csv(self) -> Path:
        return self.config.results_dir / "acked.csv"

    @property
    def plan(self) -> PipelinePlan:
        return self.pipeline.plan if self.pipeline is not None else private_plan(self.tag, 0)

    def topic(self, stream: str) -> str:
        return self.plan.shared_params.stream(stream)

    def group(self, name: str) -> str:
        return group_id(name, self.plan.params(name))

    @property
    def topics(self) -> list[str]:
        return list(self.plan.shared_params.streams.values())

    def create_topics(self) -> None:
        KAFKA_PLAN.prepare(self.config, self.plan.shared_params)

    def delete_topics(self) -> None:
        try:
            clients.delete_topics(self.bootstrap, self.topics)
        except Exception:  # best effort: a test that broke the cluster must still report its own failure
            pass

    def build(self, trade_rate_hz: float, seconds: float, book_rate_hz: float = 10.0,
              generator_extra: dict | None = None) -> None:
        plan = private_plan(self.tag, seconds, overrides={
            TRADE_GENERATOR: {"rate_hz": trade_rate_hz, "acked_csv": str(self.acked_csv), **(generator_extra or {})},
            ORDERBOOK_GENERATOR: {"rate_hz": book_rate_hz}})
        # Restarts are the experiment's business here (a kill is part of the scenario), not a supervisor's.
        self.pipeline = Pipeline(self.config, plan, mode="python", restart=NO_RESTARTS)

    @property
    def procs(self) -> dict[str, ComponentProcess]:
        return self.pipeline.processes

    @property
    def consumers(self) -> list[str]:
        return list(CONSUMERS)

    @property
    def generators(self) -> list[str]:
        return list(GENERATORS)

    def start(self, names: Iterable[str] | None = None) -> None:
        self.pipeline.start([*self.consumers, *self.generators] if names is None else names)

    def wait_consuming(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> bool:
        """Until every consumer has set up and its group owns all its input partitions."""
        return self.pipeline.wait_until_consuming(timeout_s, tick)

    def failed(self) -> list[str]:
        """Components that exited with an error (one line each, with the end of their log); a
        kill -9 the scenario did itself is not an error."""
        out = []
        for name, proc in self.procs.items():
            if proc.returncode not in (None, 0) and proc.returncode != -signal.SIGKILL:
                out.append(f"{name} exited {proc.returncode}: {proc.last_lines(3)[-400:]}")
        return out

    def wait_generators(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.procs[n].running for n in self.generators) and time.monotonic() < deadline:
            tick()
            time.sleep(0.2)
        self.stop([n for n in self.generators if self.procs[n].running])  # over time: a clean stop

    def lags(self, probe: LagProbe) -> dict[str, int]:
        return {name: probe.lag(self.group(name), input_topics(name, self.plan.params(name)))
                for name in self.consumers}

    def drain(self, timeout_s: float, settle_s: float = 4.0) -> dict[str, int]:
        """Until every consumer group has committed all its input for `settle_s` in a row
        (longer than the processor's idle rule, so its last windows are emitted and stored)."""
        probe = LagProbe(self.bootstrap)
        deadline = time.monotonic() + timeout_s
        zero_since, lags = None, {}
        while time.monotonic() < deadline:
            try:
                lags = self.lags(probe)
            except Exception:  # noqa: BLE001 - a probe during a leader change; ask again
                lags = {}
            if lags and not any(lags.values()):
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= settle_s:
                    return lags
            else:
                zero_since = None
            time.sleep(0.5)
        return lags

    def stop(self, names: Iterable[str] | None = None, timeout_s: float = 60.0) -> dict[str, int | None]:
        """A clean stop through each component's stop file; their exit codes (None: still running)."""
        names = list(self.procs) if names is None else list(names)  # [] means none, not all
        for name in names:
            self.procs[name].request_stop()
        deadline = time.monotonic() + timeout_s
        return {name: self.procs[name].wait(max(0.1, deadline - time.monotonic())) for name in names}

    def kill_all(self) -> None:
        if self.pipeline is not None:
            for proc in self.procs.values():
                proc.kill()


# ---- the scenarios -------------------------------------------------------------------------------

SCENARIOS = ("kill-one", "two-down")


@dataclass
class ScenarioResult:
    scenario: str
    trade_rate_hz: float
    run_s: float
    produced: int
    acked: int
    failed: int
    stored: int
    duplicated: int
    lost: int
    unacked_stored: int
    candles: int
    candle_mismatches: int
    ack_gap_max_s: float
    ack_resume_s: float
    isr_full_s: float
    not_enough_replicas_reports: int
    generator_errors: str
    component_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # candle mismatches, first few

    def row(self) -> dict:
        row = {k: v for k, v in vars(self).items() if k not in ("component_failures", "problems")}
        for key in ("run_s", "ack_gap_max_s", "ack_resume_s", "isr_full_s"):
            row[key] = round(row[key], 2)
        return row


class ScenarioError(Exception):
    """A step of a scenario did not happen in time (the cluster or a component misbehaved)."""


def _wait(condition: Callable[[], bool], timeout_s: float, what: str, tick: Callable[[], None]) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise ScenarioError(f"timed out after {timeout_s:g} s waiting for {what}")
        tick()
        time.sleep(0.2)
    return time.monotonic() - start


def _isr_without(bootstrap: str, topics: list[str], node: int) -> bool:
    try:
        parts = clients.describe_partitions(bootstrap, topics, timeout_s=5)
    except Exception:  # noqa: BLE001 - metadata during a leader change: ask again
        return False
    return bool(parts) and all(node not in p.isr for p in parts)


def _isr_full(bootstrap: str, topics: list[str]) -> bool:
    try:
        parts = clients.describe_partitions(bootstrap, topics, timeout_s=5)
    except Exception:  # noqa: BLE001
        return False
    return bool(parts) and all(set(p.isr) == set(p.replicas) for p in parts)


def run_scenario(cluster, scenario: str, results_dir: Path, trade_rate_hz: float = 1000.0,
                 book_rate_hz: float = 20.0, down_s: float = 12.0, echo: Callable[[str], None] = print,
                 serializer: str = "json") -> ScenarioResult:
    """One pipeline run on fresh topics while `scenario` happens to the brokers of `cluster`.

    `cluster` is a kafkalab.transports.kafka.cluster.LocalCluster this process may stop brokers of. Whatever
    happens, every broker is running again and every component process is gone on return.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")
    bootstrap = cluster.bootstrap_servers
    shutil.rmtree(Path(results_dir) / scenario, ignore_errors=True)  # files of an earlier run would mix in
    run = PipelineRun.fresh(bootstrap, Path(results_dir) / scenario, serializer=serializer)
    # The generator runs until we stop it (a clean stop) when the scenario is over.
    run.build(trade_rate_hz, seconds=900, book_rate_hz=book_rate_hz)
    run.create_topics()
    topics = run.topics
    watch = AckWatch(run.acked_csv)

    def tick() -> None:
        watch.poll()
        failed = run.failed()
        if failed:
            raise ScenarioError(f"a component failed during {scenario}: {failed[0]}")

    def pause(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tick()
            time.sleep(0.2)

    ack_resume = isr_full = 0.0
    failures: list[str] = []
    try:
        run.start(run.consumers)
        if not run.wait_consuming(120, tick):
            raise ScenarioError("the processor and sinks did not own their input partitions within 120 s")
        run.start(run.generators)
        started = time.monotonic()
        _wait(lambda: len(watch.partitions()) >= 6, 90, "acknowledgements on every trades partition", tick)
        warm = time.monotonic()  # the ack-gap figure starts here, not during interpreter start-up
        pause(3)
        partitions = watch.partitions()
        if scenario == "kill-one":
            echo(f"{scenario}: kill -9 broker 2")
            killed = time.monotonic()
            cluster.stop_broker(2, kill=True)
            # acks stop for the partitions broker 2 led until the cluster fences it, then flow again
            ack_resume = _wait(lambda: watch.all_acked_after(killed + 0.5, partitions) is not None, 120,
                               "acknowledgements on every partition after the kill", tick)
            ack_resume = watch.all_acked_after(killed + 0.5, partitions) - killed
            pause(max(0.0, down_s - (time.monotonic() - killed)))
            echo(f"{scenario}: restart broker 2")
            restarted = time.monotonic()
            cluster.start_broker(2, wait=False)
            isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
        else:
            echo(f"{scenario}: kill -9 broker 2, wait until it is fenced")
            cluster.stop_broker(2, kill=True)
            _wait(lambda: _isr_without(bootstrap, topics, 2), 120, "broker 2 to leave every ISR", tick)
            echo(f"{scenario}: stop broker 3 (controlled shutdown): one broker left")
            cluster.stop_broker(3)
            pause(down_s)
            echo(f"{scenario}: start broker 3 again")
            restarted = time.monotonic()
            cluster.start_broker(3, wait=False)
            _wait(lambda: watch.all_acked_after(restarted, partitions) is not None, 240,
                  "acknowledgements on every partition after broker 3 returned", tick)
            ack_resume = watch.all_acked_after(restarted, partitions) - restarted
            echo(f"{scenario}: start broker 2 again")
            restarted = time.monotonic()
            cluster.start_broker(2, wait=False)
            isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
        pause(3)
        run_s = time.monotonic() - started
        codes = run.stop(run.generators, timeout_s=clients.FLUSH_TIMEOUT_S + 30)
        watch.poll()
        gap = watch.longest_gap(warm, started + run_s)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
        lags = run.drain(timeout_s=120)
        if not lags or any(lags.values()):
            failures.append(f"consumers not drained: {lags}")
        codes = run.stop(run.consumers)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
    except (ScenarioError, PipelineError) as exc:
        failures.append(str(exc))
        run_s, gap = 0.0, 0.0
    finally:
        run.kill_all()
        for node in cluster.nodes():  # leave the cluster whole
            if not node.running:
                cluster.start_broker(node.node_id, wait=False)
        cluster.wait_ready(cluster.config.start_timeout_s)
    failures += run.failed()

    trades = read_rows(run.data_dir / "trades.csv")
    counts = tally(read_rows(run.acked_csv), trades)
    problems = candle_mismatches(trades, read_rows(run.data_dir / "candles.csv"))
    log = run.procs[TRADE_GENERATOR].output()
    summary = generator_counters(log)
    errors = generator_errors(log)
    result = ScenarioResult(
        scenario=scenario, trade_rate_hz=trade_rate_hz, run_s=run_s,
        produced=summary.get("produced", -1), acked=counts.acked, failed=summary.get("failed", -1),
        stored=counts.stored, duplicated=counts.duplicated, lost=counts.lost, unacked_stored=counts.unacked_stored,
        candles=len(read_rows(run.data_dir / "candles.csv")), candle_mismatches=len(problems),
        ack_gap_max_s=gap, ack_resume_s=ack_resume, isr_full_s=isr_full,
        not_enough_replicas_reports=sum(1 for l in log.splitlines() if re.search(r"not.enough.*replicas", l, re.I)),
        generator_errors="; ".join(e[:160] for e in errors[:3]), component_failures=failures, problems=problems[:5])
    if not failures:
        run.delete_topics()
    return result


# ---- the experiment ------------------------------------------------------------------------------

def run(config: LabConfig, quick: bool = False) -> int:
    """Start a private cluster, run every scenario on it, append the figures, stop the cluster."""
    from dataclasses import replace as dc_replace

    from kafkalab.transports.kafka.cluster import LocalCluster
    from kafkalab.bench.common import append_rows

    cluster_config = dc_replace(config.cluster, base_port=RELIABILITY_BASE_PORT,
                                run_dir=config.project_root / ".run" / "reliability-cluster")
    cluster = LocalCluster(cluster_config, echo=lambda m: print(f"[reliability cluster] {m}", flush=True))
    cluster.down()
    cluster.wipe()
    cluster.up()
    rows = []
    try:
        for scenario in SCENARIOS:
            rate = 500.0 if quick else 1000.0
            print(f"reliability: scenario {scenario} at {rate:g} trades/s ...", flush=True)
            result = run_scenario(cluster, scenario, config.runs_dir / "reliability", trade_rate_hz=rate,
                                  down_s=8.0 if quick else 12.0,
                                  echo=lambda m: print(f"reliability: {m}", flush=True))
            row = result.row()
            row["quick"] = quick
            rows.append(row)
            print("reliability: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "generator_errors"), flush=True)
            for failure in result.component_failures:
                print(f"reliability: PROBLEM: {failure}", flush=True)
    finally:
        cluster.down()
    append_rows(config.bench_dir / "reliability.csv", rows)
    print(f"reliability: {len(rows)} rows appended to {config.bench_dir / 'reliability.csv'}", flush=True)
    return 0
