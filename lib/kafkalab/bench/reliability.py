"""Reliability: the pipeline under broker loss, measured (`kafkalab bench reliability`).

The experiment starts its OWN private 3-node cluster (ports from RELIABILITY_BASE_PORT,
folder .run/reliability-cluster; it never touches a cluster a user runs), runs the whole
pipeline - the two generators, the processor and the two sinks, each its own process
started from the package's notebook entry points - at a high trade rate, and breaks
brokers while it runs:

    kill-one      kill -9 one broker, restart it after a while
    two-down      stop a second broker while the first is still down: one broker left,
                  below min.insync.replicas=2 (and below the KRaft quorum); then bring
                  one back, then the other

Each scenario is one pipeline run on fresh topics and groups. After the generators end,
the run drains (every consumer group at lag 0), stops the consumers cleanly (SIGTERM)
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

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kafkalab.transports.kafka import clients
from kafkalab.config import LabConfig
from kafkalab.pipeline.runner import LagProbe, PipelineGroups, PipelineTopics

RELIABILITY_BASE_PORT = 29092
WINDOW_US = 1_000_000

# One component per process, through the same entry points the notebooks call.
COMPONENT_SCRIPT = r"""
import json, sys
from kafkalab import config
kind, kw = sys.argv[1], json.loads(sys.argv[2])
if kind in ("generator_trades", "generator_orderbook", "processor_market"):
    cfg = config.load(bootstrap_servers=kw.pop("bootstrap_servers"), serializer=kw.pop("serializer", ""),
                      results_dir=kw.pop("results_dir", ""))
    if kind == "generator_trades":
        from kafkalab.transports.kafka.generator import run_trade_generator as run
    elif kind == "generator_orderbook":
        from kafkalab.transports.kafka.generator import run_orderbook_generator as run
    else:
        from kafkalab.transports.kafka.processor import run_market_processor as run
    run(cfg, interactive=False, **kw)
elif kind == "sink_trades_csv":
    from kafkalab.transports.kafka.sink import run_trades_sink
    run_trades_sink(interactive=False, **kw)
elif kind == "sink_candles_csv":
    from kafkalab.transports.kafka.sink import run_candles_sink
    run_candles_sink(interactive=False, **kw)
else:
    raise SystemExit(f"unknown component {kind}")
"""


# ---- component processes ------------------------------------------------------------------

@dataclass
class ComponentProc:
    """One component as `python -c <entry point>`; its output goes to `log`."""

    kind: str
    kwargs: dict
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts + 1} ---\n")
            out.flush()
            self.popen = subprocess.Popen([sys.executable, "-c", COMPONENT_SCRIPT, self.kind, json.dumps(self.kwargs)],
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def signal(self, sig: signal.Signals) -> None:
        if self.running:
            self.popen.send_signal(sig)

    def kill9(self) -> None:
        if self.running:
            self.popen.kill()
            self.popen.wait(30)

    def wait(self, timeout_s: float) -> int | None:
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class PipelineRun:
    """The five components of one run, on their own topics, groups and results folder."""

    bootstrap: str
    results_dir: Path
    topics: PipelineTopics
    groups: PipelineGroups
    serializer: str = "json"
    procs: dict[str, ComponentProc] = field(default_factory=dict)

    @classmethod
    def fresh(cls, bootstrap: str, results_dir: Path, tag: str = "", serializer: str = "json") -> "PipelineRun":
        tag = tag or uuid.uuid4().hex[:8]
        topics = PipelineTopics(*(f"rel-{tag}-{n}" for n in ("trades", "orderbooks", "candles", "book-features",
                                                            "dead-letters")))
        groups = PipelineGroups(f"rel-{tag}-processor", f"rel-{tag}-sink-trades", f"rel-{tag}-sink-candles")
        return cls(bootstrap, Path(results_dir), topics, groups, serializer)

    @property
    def data_dir(self) -> Path:
        return self.results_dir / "data"

    @property
    def acked_csv(self) -> Path:
        return self.results_dir / "acked.csv"

    def create_topics(self) -> None:
        clients.ensure_topics(self.bootstrap, self.topics.specs())

    def delete_topics(self) -> None:
        try:
            clients.delete_topics(self.bootstrap, list(vars(self.topics).values()))
        except Exception:  # best effort: a test that broke the cluster must still report its own failure
            pass

    def build(self, trade_rate_hz: float, seconds: float, book_rate_hz: float = 10.0,
              generator_extra: dict | None = None) -> None:
        t, g, logs = self.topics, self.groups, self.results_dir / "logs"
        common = {"bootstrap_servers": self.bootstrap, "serializer": self.serializer,
                  "results_dir": str(self.results_dir)}
        sink = {"bootstrap_servers": self.bootstrap, "results_dir": str(self.results_dir),
                "dead_letters_topic": t.dead_letters}
        specs = {
            "processor_market": {**common, "group_id": g.processor, "trades_topic": t.trades,
                                 "orderbooks_topic": t.orderbooks, "candles_topic": t.candles,
                                 "book_features_topic": t.book_features, "dead_letters_topic": t.dead_letters},
            "sink_trades_csv": {**sink, "group_id": g.trades_sink, "trades_topic": t.trades},
            "sink_candles_csv": {**sink, "group_id": g.candles_sink, "candles_topic": t.candles,
                                 "book_features_topic": t.book_features},
            "generator_trades": {**common, "topic": t.trades, "rate_hz": trade_rate_hz, "max_seconds": seconds,
                                 "acked_csv": str(self.acked_csv), **(generator_extra or {})},
            "generator_orderbook": {**common, "topic": t.orderbooks, "rate_hz": book_rate_hz, "max_seconds": seconds},
        }
        self.procs = {name: ComponentProc(name, kw, logs / f"{name}.log") for name, kw in specs.items()}

    @property
    def consumers(self) -> list[str]:
        return ["processor_market", "sink_trades_csv", "sink_candles_csv"]

    @property
    def generators(self) -> list[str]:
        return ["generator_trades", "generator_orderbook"]

    def start(self, names: Iterable[str] | None = None) -> None:
        for name in names or [*self.consumers, *self.generators]:
            self.procs[name].start()

    def failed(self) -> list[str]:
        """Components that exited with an error (one line each, with the end of their log)."""
        out = []
        for name, proc in self.procs.items():
            if proc.returncode not in (None, 0) and proc.returncode != -signal.SIGKILL:
                tail = " | ".join(proc.output().strip().splitlines()[-3:])
                out.append(f"{name} exited {proc.returncode}: {tail[-400:]}")
        return out

    def wait_generators(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.procs[n].running for n in self.generators) and time.monotonic() < deadline:
            tick()
            time.sleep(0.2)
        for name in self.generators:
            if self.procs[name].running:  # over time: a clean stop first
                self.procs[name].signal(signal.SIGTERM)
                self.procs[name].wait(60)

    def lags(self, probe: LagProbe) -> dict[str, int]:
        t, g = self.topics, self.groups
        return {"processor_market": probe.lag(g.processor, [t.trades, t.orderbooks]),
                "sink_trades_csv": probe.lag(g.trades_sink, [t.trades]),
                "sink_candles_csv": probe.lag(g.candles_sink, [t.candles, t.book_features])}

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

    def stop(self, names: Iterable[str] | None = None, sig: signal.Signals = signal.SIGTERM,
             timeout_s: float = 60.0) -> dict[str, int | None]:
        names = list(names or self.procs)
        for name in names:
            self.procs[name].signal(sig)
        return {name: self.procs[name].wait(timeout_s) for name in names}

    def kill_all(self) -> None:
        for proc in self.procs.values():
            proc.kill9()


# ---- what the files say ---------------------------------------------------------------------

def read_rows(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def ends_with_complete_line(path: Path) -> bool:
    data = Path(path).read_bytes()
    return data.endswith(b"\n")


@dataclass(frozen=True)
class Tally:
    acked: int
    stored: int
    duplicated: int
    lost: int
    unacked_stored: int


def tally(acked_rows: list[dict], stored_rows: list[dict]) -> Tally:
    """Acknowledged records vs stored rows, by (symbol, trade_id)."""
    acked = {(r["symbol"], int(r["trade_id"])) for r in acked_rows}
    stored = Counter((r["symbol"], int(r["trade_id"])) for r in stored_rows)
    return Tally(acked=len(acked), stored=sum(stored.values()),
                 duplicated=sum(n - 1 for n in stored.values() if n > 1),
                 lost=len(acked - set(stored)), unacked_stored=len(set(stored) - acked))


def recompute_candles(trade_rows: list[dict]) -> dict[tuple[str, int], tuple]:
    """(open, high, low, close, volume, count) per (symbol, 1 s event-time window)."""
    windows: dict[tuple[str, int], list[tuple[int, int, float, float]]] = {}
    for r in trade_rows:
        ts = int(r["event_ts_us"])
        windows.setdefault((r["symbol"], ts - ts % WINDOW_US), []).append(
            (ts, int(r["trade_id"]), float(r["price"]), float(r["size"])))
    out = {}
    for key, items in windows.items():
        items.sort()
        prices = [p for _, _, p, _ in items]
        out[key] = (prices[0], max(prices), min(prices), prices[-1], sum(s for *_, s in items), len(items))
    return out


def candle_mismatches(trade_rows: list[dict], candle_rows: list[dict]) -> list[str]:
    """Windows whose stored candle is missing, doubled or differs from the recomputed one."""
    expected = recompute_candles(trade_rows)
    got = Counter((r["symbol"], int(r["window_start_us"])) for r in candle_rows)
    problems = [f"{k}: {n} candles" for k, n in got.items() if n > 1]
    problems += [f"{k}: no trades for this candle" for k in got if k not in expected]
    problems += [f"{k}: missing candle" for k in expected if k not in got]
    for r in candle_rows:
        key = (r["symbol"], int(r["window_start_us"]))
        if key not in expected:
            continue
        o, h, lo, c, volume, count = expected[key]
        if (float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]), int(r["trade_count"])) != \
                (o, h, lo, c, count) or abs(float(r["volume"]) - volume) > 1e-6 * max(1.0, volume):
            problems.append(f"{key}: stored {r['open']},{r['high']},{r['low']},{r['close']},{r['volume']},"
                            f"{r['trade_count']} != recomputed {expected[key]}")
    return problems


_COUNTERS = re.compile(r"trade-generator: (?P<counters>(?:\w+=-?\d+ ?)+)")


def generator_counters(log_text: str) -> dict[str, int]:
    """The trade generator's last counter line (its summary at the end of a clean run)."""
    found = _COUNTERS.findall(log_text)
    if not found:
        return {}
    return {k: int(v) for k, v in (item.split("=") for item in found[-1].split())}


def generator_errors(log_text: str) -> list[str]:
    """Distinct error lines the trade generator printed (counter lines left out)."""
    lines = [l.strip() for l in log_text.splitlines() if l.startswith("trade-generator:") and not _COUNTERS.match(l)
             and "running (" not in l]
    return list(dict.fromkeys(l for l in lines if re.search(r"error|not delivered|NOT_ENOUGH|fail|unavailable", l, re.I)))


# ---- acknowledgements as they happen --------------------------------------------------------

class AckWatch:
    """Tails the trade generator's acked-records file: when did each partition last see an ack?

    The generator flushes that file every loop step, so a new row appears within
    milliseconds of its acknowledgement; polling every ~0.2 s gives the ack timeline.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0
        self._columns: list[str] | None = None
        self.events: list[tuple[float, int]] = []  # (monotonic time seen, partition)

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk.rfind(b"\n") + 1
        if not complete:
            return
        self._offset += complete
        now = time.monotonic()
        for line in chunk[:complete].decode().splitlines():
            fields = line.split(",")
            if self._columns is None:
                self._columns = fields
                continue
            self.events.append((now, int(fields[self._columns.index("position")].split(":")[0])))

    def partitions(self) -> set[int]:
        return {p for _, p in self.events}

    def all_acked_after(self, since: float, partitions: set[int]) -> float | None:
        """The first time by which every partition in `partitions` had an ack after `since`."""
        first: dict[int, float] = {}
        for t, p in self.events:
            if t > since and p in partitions and p not in first:
                first[p] = t
        return max(first.values()) if partitions and set(first) >= partitions else None

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without any acknowledgement between start and end."""
        times = [start] + [t for t, _ in self.events if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))


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
    run.create_topics()
    topics = list(vars(run.topics).values())
    # The generator runs until we stop it (SIGTERM, a clean stop) when the scenario is over.
    run.build(trade_rate_hz, seconds=900, book_rate_hz=book_rate_hz)
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
        pause(3)
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
        codes = run.stop(run.generators, signal.SIGTERM, timeout_s=clients.FLUSH_TIMEOUT_S + 30)
        watch.poll()
        gap = watch.longest_gap(warm, started + run_s)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
        lags = run.drain(timeout_s=120)
        if not lags or any(lags.values()):
            failures.append(f"consumers not drained: {lags}")
        codes = run.stop(run.consumers, signal.SIGTERM)
        failures += [f"{n} exited {c}" for n, c in codes.items() if c != 0]
    except ScenarioError as exc:
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
    log = run.procs["generator_trades"].output()
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
