"""The scenarios: one pipeline run while brokers are killed and restarted, and what it kept."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kafkalab.bench.accounting import AckWatch, candle_mismatches, generator_counters, generator_errors, read_rows, tally
from kafkalab.bench.reliability.pipeline_run import PipelineRun
from kafkalab.errors import ConfigError
from kafkalab.pipeline.launcher import PipelineError
from kafkalab.runtime import netfaults, toxiproxy
from kafkalab.runtime.params import TRADE_GENERATOR
from kafkalab.transports.kafka import clients, proxied

# Network faults (kafkalab.runtime.netfaults): share of one broker's packets dropped while
# they last, 100 = partitioned from its peers and the clients.
NETWORK_SCENARIOS = {"partition-one": 100, "partition-leader": 100, "loss-5pct": 5}
# Added latency (kafkalab.runtime.toxiproxy): broker 2 behind a proxy, (latency, jitter) in ms
# added each way while it lasts.
LATENCY_SCENARIOS = {"latency-100ms": (100, 20)}
SLOWED_NODE = 2
# Acknowledgements flow this long before a fault (the latency scenario's "before" figures), and
# after the recovery (the timeline shows the flow restored).
STEADY_S = 1.0
SCENARIOS = ("kill-one", "two-down", *NETWORK_SCENARIOS, *LATENCY_SCENARIOS)


def select(names: str | None) -> list[str]:
    """The scenarios a comma-separated list names, in its order (None or "": all of them, the
    experiment's order); an unknown name is one line that lists the valid ones."""
    if not names:
        return list(SCENARIOS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in SCENARIOS]
    if unknown or not wanted:
        raise ConfigError(f"unknown reliability scenario(s) {', '.join(unknown) or repr(names)}; "
                          f"choose from: {', '.join(SCENARIOS)}")
    return list(dict.fromkeys(wanted))


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
    packets_dropped: int = 0  # network scenarios: packets the fault's rules dropped
    # latency scenarios: median produce-to-ack latency of the trades partitions the slowed broker
    # leads, before the fault and while it lasts, and of the other partitions while it lasts (the
    # same machine load: the fair comparison); slowed_partitions: how many it leads
    ack_latency_before_ms: float = 0.0
    ack_latency_during_ms: float = 0.0
    ack_latency_others_ms: float = 0.0
    slowed_partitions: int = 0
    component_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # candle mismatches, first few
    timeline: list[dict] = field(default_factory=list)  # acks per second and the steps taken (AckWatch.per_second)
    phases: dict[str, float] = field(default_factory=dict)  # where the scenario's time went (Phases)

    def row(self) -> dict:
        row = {k: v for k, v in vars(self).items() if k not in ("component_failures", "problems", "timeline", "phases")}
        for key in ("run_s", "ack_gap_max_s", "ack_resume_s", "isr_full_s", "ack_latency_before_ms",
                    "ack_latency_during_ms", "ack_latency_others_ms"):
            row[key] = round(row[key], 2)
        return row


class ScenarioError(Exception):
    """A step of a scenario did not happen in time (the cluster or a component misbehaved)."""


class Phases:
    """Where a scenario's wall time goes: `mark(name)` ends the phase `name` (seconds since the
    previous mark); a name marked again adds up."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 2)
        self._last = now


def _wait(condition: Callable[[], bool], timeout_s: float, what: str, tick: Callable[[], None]) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise ScenarioError(f"timed out after {timeout_s:g} s waiting for {what}")
        tick()
        time.sleep(0.2)
    return time.monotonic() - start


def _has_rows(csv_path: Path) -> bool:
    """A CSV file with a header and at least one complete row."""
    try:
        with csv_path.open("rb") as f:
            return f.read(1 << 16).count(b"\n") >= 2
    except FileNotFoundError:
        return False


def _reports_not_enough_replicas(log: str) -> int:
    """Lines of a generator's log that name NOT_ENOUGH_REPLICAS."""
    return sum(1 for line in log.splitlines() if re.search(r"not.enough.*replicas", line, re.I))


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


def _leader_of_most(bootstrap: str, topic: str) -> int:
    """The broker that leads most partitions of `topic` (ties: the lowest id)."""
    leaders = [p.leader for p in clients.describe_partitions(bootstrap, [topic], timeout_s=10)]
    return min(set(leaders), key=lambda n: (-leaders.count(n), n))


def unavailable(scenario: str, cluster) -> str | None:
    """Why `scenario` cannot run on this machine (for skips), or None."""
    if scenario in NETWORK_SCENARIOS:
        return netfaults.unavailable()
    if scenario in LATENCY_SCENARIOS:
        return toxiproxy.unavailable(cluster.config.toxiproxy)
    return None


def run_scenario(cluster, scenario: str, results_dir: Path, trade_rate_hz: float = 1000.0,
                 book_rate_hz: float = 20.0, down_s: float = 12.0, echo: Callable[[str], None] = print,
                 serializer: str = "json") -> ScenarioResult:
    """One pipeline run on fresh topics while `scenario` happens to the brokers of `cluster`.

    `cluster` is a kafkalab.transports.kafka.cluster.LocalCluster this process may stop brokers of. Whatever
    happens, every broker is running again (advertising its own port) and every component process is gone
    on return. A latency scenario first restarts broker 2 behind a proxy (kafkalab.transports.kafka.proxied).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")
    phases = Phases()
    if scenario in LATENCY_SCENARIOS:
        echo(f"{scenario}: restart broker {SLOWED_NODE} behind a proxy")
        with proxied.behind_proxy(cluster, SLOWED_NODE) as (through_proxy, api):
            phases.mark("broker behind the proxy")
            result = _run(through_proxy, scenario, results_dir, trade_rate_hz, book_rate_hz, down_s, echo,
                          serializer, phases, api)
        phases.mark("broker back on its own port")
        return result
    return _run(cluster, scenario, results_dir, trade_rate_hz, book_rate_hz, down_s, echo, serializer, phases)


def _run(cluster, scenario: str, results_dir: Path, trade_rate_hz: float, book_rate_hz: float, down_s: float,
         echo: Callable[[str], None], serializer: str, phases: Phases,
         api: toxiproxy.Api | None = None) -> ScenarioResult:
    bootstrap = cluster.bootstrap_servers
    shutil.rmtree(Path(results_dir) / scenario, ignore_errors=True)  # files of an earlier run would mix in
    run = PipelineRun.fresh(bootstrap, Path(results_dir) / scenario, serializer=serializer)
    # The generator runs until we stop it (a clean stop) when the scenario is over.
    run.build(trade_rate_hz, seconds=900, book_rate_hz=book_rate_hz)
    run.create_topics()
    phases.mark("topics")
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

    events: list[tuple[float, str]] = []  # (monotonic time, what was done): the timeline's marks

    def say(text: str) -> None:
        events.append((time.monotonic(), text))
        echo(f"{scenario}: {text}")

    ack_resume = isr_full = 0.0
    dropped = 0
    latency_ms = (0.0, 0.0, 0.0, 0)  # before, during, others during, partitions (latency scenarios)
    started = time.monotonic()
    failures: list[str] = []
    try:
        # All five at once: their start-ups overlap (a fault waits for the consumers to own their
        # input and for acknowledgements; records produced before the consumers joined wait for them).
        run.start()
        started = time.monotonic()
        if not run.wait_consuming(120, tick):
            raise ScenarioError("the processor and sinks did not own their input partitions within 120 s")
        phases.mark("consumers own their input")
        _wait(lambda: len(watch.partitions()) >= 6, 90, "acknowledgements on every trades partition", tick)
        warm = time.monotonic()  # the ack-gap figure starts here, not during interpreter start-up
        phases.mark("acks on every partition")
        # the fault must hit a pipeline whose records already go all the way through
        _wait(lambda: _has_rows(run.data_dir / "candles.csv"), 60, "a first candle stored", tick)
        pause(max(0.0, STEADY_S - (time.monotonic() - warm)))
        partitions = watch.partitions()
        phases.mark("before the fault")
        if scenario in NETWORK_SCENARIOS:
            node = _leader_of_most(bootstrap, run.topic("trades")) if scenario == "partition-leader" else 2
            percent = NETWORK_SCENARIOS[scenario]
            say(f"{'partition' if percent == 100 else f'{percent} % packet loss on'} broker {node} for {down_s:g} s")
            ports = {cluster.config.broker_port(node), cluster.config.controller_port(node)}
            cut = time.monotonic()
            with netfaults.cut_off(cluster.node_pid(node), ports, percent) as fault:
                pause(down_s)
                if percent == 100:  # a partition lasts until the cluster has fenced the broker (its
                    # leaderships moved, it left every ISR), whenever the clients notice
                    _wait(lambda: _isr_without(bootstrap, topics, node), 120, f"broker {node} to leave every ISR", tick)
            phases.mark("network fault")
            say(f"healed ({fault.dropped_packets:,} packets dropped)")
            dropped = fault.dropped_packets
            _wait(lambda: watch.all_acked_after(cut + 0.5, partitions) is not None, 120,
                  "acknowledgements on every partition after the fault began", tick)
            ack_resume = watch.all_acked_after(cut + 0.5, partitions) - cut
            isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
        elif scenario in LATENCY_SCENARIOS:
            ack_resume, isr_full, latency_ms = _slow_broker(scenario, api, bootstrap, run.topic("trades"), topics,
                                                            watch, warm, down_s, say, tick, pause)
        elif scenario == "kill-one":
            say("kill -9 broker 2")
            killed = time.monotonic()
            cluster.stop_broker(2, kill=True)
            # acks stop for the partitions broker 2 led until the cluster fences it, then flow again
            ack_resume = _wait(lambda: watch.all_acked_after(killed + 0.5, partitions) is not None, 120,
                               "acknowledgements on every partition after the kill", tick)
            ack_resume = watch.all_acked_after(killed + 0.5, partitions) - killed
            phases.mark("kill until acks resume")
            pause(max(0.0, down_s - (time.monotonic() - killed)))
            phases.mark("broker still down")
            say("restart broker 2")
            restarted = time.monotonic()
            cluster.start_broker(2, wait=False)
            isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
        else:
            say("kill -9 broker 2, wait until it is fenced")
            cluster.stop_broker(2, kill=True)
            _wait(lambda: _isr_without(bootstrap, topics, 2), 120, "broker 2 to leave every ISR", tick)
            phases.mark("kill until broker 2 is fenced")
            say("stop broker 3 (controlled shutdown): one broker left")
            cluster.stop_broker(3)
            phases.mark("stop broker 3")
            pause(down_s)
            # the outage lasts until the trade generator has said why its writes wait
            _wait(lambda: _reports_not_enough_replicas(run.procs[TRADE_GENERATOR].output()), 60,
                  "the trade generator to report NOT_ENOUGH_REPLICAS", tick)
            phases.mark("one broker left")
            say("start broker 3 again")
            restarted = time.monotonic()
            cluster.start_broker(3, wait=False)
            _wait(lambda: watch.all_acked_after(restarted, partitions) is not None, 240,
                  "acknowledgements on every partition after broker 3 returned", tick)
            ack_resume = watch.all_acked_after(restarted, partitions) - restarted
            phases.mark("broker 3 back until acks resume")
            say("start broker 2 again")
            restarted = time.monotonic()
            cluster.start_broker(2, wait=False)
            isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
        phases.mark("recovery until the full ISR")
        pause(STEADY_S)
        phases.mark("after the recovery")
        run_s = time.monotonic() - started
        codes = run.stop(run.generators, timeout_s=clients.FLUSH_TIMEOUT_S + 30)
        watch.poll()
        gap = watch.longest_gap(warm, started + run_s)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
        phases.mark("generators stopped")
        lags = run.drain(timeout_s=120)
        if not lags or any(lags.values()):
            failures.append(f"consumers not drained: {lags}")
        phases.mark("drained")
        codes = run.stop(run.consumers)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
        phases.mark("consumers stopped")
    except (ScenarioError, PipelineError) as exc:
        failures.append(str(exc))
        run_s, gap = 0.0, 0.0
    finally:
        run.kill_all()
        for node in cluster.nodes():  # leave the cluster whole
            if not node.running:
                cluster.start_broker(node.node_id, wait=False)
        cluster.wait_ready(cluster.config.start_timeout_s)
        phases.mark("cluster whole")
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
        not_enough_replicas_reports=_reports_not_enough_replicas(log),
        generator_errors="; ".join(e[:160] for e in errors[:3]), packets_dropped=dropped,
        ack_latency_before_ms=latency_ms[0], ack_latency_during_ms=latency_ms[1],
        ack_latency_others_ms=latency_ms[2], slowed_partitions=latency_ms[3],
        component_failures=failures, problems=problems[:5],
        timeline=watch.per_second(started, started + run_s, events) if run_s else [], phases=phases.seconds)
    phases.mark("verified")
    if not failures:
        run.delete_topics()
        phases.mark("topics deleted")
    return result


def _slow_broker(scenario, api, bootstrap, trades_topic, topics, watch, warm, down_s, say, tick, pause):
    """The latency fault on SLOWED_NODE (already behind its proxy): (ack_resume_s, isr_full_s,
    (median ack latency of its trades partitions before and during, of the others during, how many it leads))."""
    latency, jitter = LATENCY_SCENARIOS[scenario]
    partitions = watch.partitions()
    led = {p.partition for p in clients.describe_partitions(bootstrap, [trades_topic], timeout_s=10)
           if p.leader == SLOWED_NODE}
    say(f"{latency} ms ± {jitter} ms added to broker {SLOWED_NODE} each way for {down_s:g} s")
    began = time.monotonic()
    with toxiproxy.latency(api, proxied.proxy_name(SLOWED_NODE), latency, jitter):
        pause(down_s)
    ended = time.monotonic()
    say("latency removed")
    _wait(lambda: watch.all_acked_after(began + 0.5, partitions) is not None, 120,
          "acknowledgements on every partition after the latency began", tick)
    ack_resume = watch.all_acked_after(began + 0.5, partitions) - began
    isr_full = _wait(lambda: _isr_full(bootstrap, topics), 180, "the full ISR", tick)
    # the first second of the fault still acks what was sent before it: left out
    during = (began + 1, ended)
    return ack_resume, isr_full, (watch.ack_latency_ms(led, warm, began), watch.ack_latency_ms(led, *during),
                                  watch.ack_latency_ms(partitions - led, *during), len(led))
