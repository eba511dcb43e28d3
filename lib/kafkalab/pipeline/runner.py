"""`kafkalab run`: the whole pipeline, each component its own papermill process.

    run_pipeline(config, seconds, trade_rate_hz=None) -> exit code

1. If the bootstrap servers are the local default and nobody answers, start the local
   cluster (and stop it at the end; a cluster that was already up is left running).
2. Create the topics that do not exist yet.
3. Start the processor and the two sinks (unbounded); once their consumer groups own
   every input partition, start the two generators (bounded to `seconds`), so no record
   waits for a kernel to start. Each component runs `python -m papermill
   notebooks/<name>.ipynb results/runs/<name>.ipynb -p ...` in its own session (so a
   Ctrl-C at the terminal reaches only the runner), its output in results/runs/<name>.log.
4. When the generators have finished, drain: wait until the processor's consumer group
   has committed everything in its input topics, stop it; then the same for the sinks.
   Stopping uses the stop-file mechanism of kafkalab.runtime.loop (the kernel under
   papermill does not receive signals sent to papermill): the loop ends cleanly,
   flushes, commits, closes its files, and papermill saves the executed notebook.
5. A component that fails ends the run: the others are stopped cleanly and the runner
   raises one line naming the component, its executed notebook and its log.
   SIGINT/SIGTERM to the runner stop every component the same clean way.

The building blocks (PipelinePlan, Pipeline, group_lag) are used by the end-to-end test
and the pipeline benchmark with their own topics, groups and results folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkalab.transports.kafka import clients, topics
from kafkalab.runtime.loop import supervisor_token
from kafkalab.config import ENV_SUPERVISOR, LabConfig
from kafkalab.errors import LabError
from kafkalab.transports.kafka.sink import BOOK_FEATURES_CSV, CANDLES_CSV, TRADES_CSV

GENERATOR_START_GRACE_S = 90.0  # papermill + kernel start-up on a busy 2-core machine
STOP_TIMEOUT_S = clients.FLUSH_TIMEOUT_S + 15.0  # a clean stop may flush for a while
DRAIN_TIMEOUT_S = 60.0
CONSUMERS_READY_TIMEOUT_S = 90.0
DRAIN_SETTLE_S = 1.0  # lag must stay at 0 this long (the processor emits after its input)
POLL_S = 0.25


class PipelineError(LabError):
    """A component failed or the pipeline could not be started or stopped."""


# ---- what to run ------------------------------------------------------------------------

@dataclass(frozen=True)
class PipelineTopics:
    trades: str = topics.TRADES
    orderbooks: str = topics.ORDERBOOKS
    candles: str = topics.CANDLES
    book_features: str = topics.BOOK_FEATURES
    dead_letters: str = topics.DEAD_LETTERS

    def specs(self) -> list[topics.TopicSpec]:
        """The declared topic specs under these names (same partitions, RF, configs)."""
        names = {topics.TRADES: self.trades, topics.ORDERBOOKS: self.orderbooks, topics.CANDLES: self.candles,
                 topics.BOOK_FEATURES: self.book_features, topics.DEAD_LETTERS: self.dead_letters}
        return [replace(spec, name=names[spec.name]) for spec in topics.TOPICS]


@dataclass(frozen=True)
class PipelineGroups:
    processor: str = "market-processor"
    trades_sink: str = "sink-trades-csv"
    candles_sink: str = "sink-candles-csv"


@dataclass(frozen=True)
class ComponentSpec:
    name: str  # also the notebook's name: notebooks/<name>.ipynb
    parameters: Mapping[str, object]
    source: bool  # a generator: bounded by time, not drained
    group_id: str = ""  # consumers: the group whose lag must reach 0 before it is stopped
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelinePlan:
    """Everything a pipeline run needs besides the LabConfig."""

    seconds: float
    trade_rate_hz: float | None = None
    topics: PipelineTopics = PipelineTopics()
    groups: PipelineGroups = PipelineGroups()
    acked_csv: Path | None = None  # the trade generator's acknowledged-records file
    extra: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # per component

    def components(self, config: LabConfig) -> list[ComponentSpec]:
        t, g = self.topics, self.groups
        common = {"bootstrap_servers": config.bootstrap_servers, "serializer": config.serializer}
        trade_gen = {**common, "max_seconds": self.seconds, "trades_topic": t.trades}
        if self.trade_rate_hz is not None:
            trade_gen["rate_hz"] = self.trade_rate_hz
        if self.acked_csv is not None:
            trade_gen["acked_csv"] = str(self.acked_csv)
        sink = {"bootstrap_servers": config.bootstrap_servers, "results_dir": str(config.results_dir),
                "dead_letters_topic": t.dead_letters}
        specs = [
            ComponentSpec("processor_market", {
                **common, "group_id": g.processor, "trades_topic": t.trades, "orderbooks_topic": t.orderbooks,
                "candles_topic": t.candles, "book_features_topic": t.book_features,
                "dead_letters_topic": t.dead_letters}, False, g.processor, (t.trades, t.orderbooks)),
            ComponentSpec("sink_trades_csv", {**sink, "group_id": g.trades_sink, "trades_topic": t.trades},
                          False, g.trades_sink, (t.trades,)),
            ComponentSpec("sink_candles_csv", {
                **sink, "group_id": g.candles_sink, "candles_topic": t.candles,
                "book_features_topic": t.book_features}, False, g.candles_sink, (t.candles, t.book_features)),
            ComponentSpec("generator_trades", trade_gen, True),
            ComponentSpec("generator_orderbook", {**common, "max_seconds": self.seconds, "orderbooks_topic": t.orderbooks}, True),
        ]
        return [replace(s, parameters={**s.parameters, **self.extra.get(s.name, {})}) for s in specs]


# ---- consumer lag --------------------------------------------------------------------------

class LagProbe:
    """Consumer-group lag from Kafka's own bookkeeping: committed offsets vs end offsets.

    End offsets are read with isolation READ_COMMITTED (the last stable offset): what a
    read_committed consumer can reach, so transaction markers do not count as lag.

    Committed offsets are read by a consumer of the group that never joins it (OffsetFetch),
    not by the admin API: in librdkafka 2.16 an admin group request that times out (no
    coordinator yet on a fresh cluster, or one moving after a broker restart) later aborts
    the whole process with an `eonce->refcnt > 0` assertion, while the consumer's own
    coordinator lookup simply retries.
    """

    def __init__(self, bootstrap_servers: str, timeout_s: float = 10.0):
        self.bootstrap_servers = bootstrap_servers
        self.client = clients.admin(bootstrap_servers)
        self.timeout_s = timeout_s
        self._readers: dict[str, Consumer] = {}

    def _reader(self, group_id: str) -> Consumer:
        if group_id not in self._readers:
            # read_uncommitted: a pending transaction's offsets are not waited for (they
            # are not committed yet either way).
            self._readers[group_id] = Consumer(clients.base_config(
                self.bootstrap_servers, **{"group.id": group_id, "enable.auto.commit": False,
                                           "isolation.level": "read_uncommitted"}))
        return self._readers[group_id]

    def _partitions(self, topic_names: Iterable[str]) -> list[TopicPartition]:
        metadata = self.client.list_topics(timeout=self.timeout_s).topics
        return [TopicPartition(name, p) for name in topic_names if name in metadata for p in metadata[name].partitions]

    def _offsets(self, partitions: list[TopicPartition], spec) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}

        def ask() -> dict[tuple[str, int], int]:
            futures = self.client.list_offsets({tp: spec for tp in partitions}, request_timeout=self.timeout_s,
                                               isolation_level=IsolationLevel.READ_COMMITTED)
            return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

        return _retrying(ask)

    def end_offsets(self, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        return self._offsets(self._partitions(topic_names), OffsetSpec.latest())

    def committed(self, group_id: str, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        """The group's committed offsets in `topic_names` (partitions never committed left out)."""
        partitions = self._partitions(topic_names)
        if not partitions:
            return {}
        found = _retrying(lambda: self._reader(group_id).committed(partitions, timeout=self.timeout_s))
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def lag(self, group_id: str, topic_names: Iterable[str]) -> int:
        """Records in `topic_names` that `group_id` has not committed yet (a fresh group: all of them)."""
        topic_names = list(topic_names)
        ends = self.end_offsets(topic_names)
        committed = self.committed(group_id, topic_names)
        missing = [TopicPartition(t, p) for (t, p) in ends if (t, p) not in committed]
        starts = self._offsets(missing, OffsetSpec.earliest())
        return sum(max(0, end - committed.get(key, starts.get(key, 0))) for key, end in ends.items())


def group_ready(probe: "LagProbe", group_id: str, topic_names: Iterable[str]) -> bool:
    """The group is stable and its members own every partition of `topic_names`."""
    from confluent_kafka import ConsumerGroupState

    topic_names = list(topic_names)
    wanted = {(tp.topic, tp.partition) for tp in probe._partitions(topic_names)}
    try:
        probe.committed(group_id, topic_names)  # the group's coordinator is up (see LagProbe)
        description = probe.client.describe_consumer_groups([group_id], request_timeout=probe.timeout_s)[group_id].result()
    except KafkaException:
        return False
    if description.state != ConsumerGroupState.STABLE:
        return False
    owned = {(tp.topic, tp.partition) for m in description.members
             for tp in (m.assignment.topic_partitions if m.assignment else [])}
    return bool(wanted) and wanted <= owned


def _retrying(ask, attempts: int = 20, pause_s: float = 0.25):
    """Leadership moves (a new topic, a broker restart) make offset requests fail for a moment."""
    for attempt in range(attempts):
        try:
            return ask()
        except KafkaException as exc:
            err = exc.args[0]
            transient = err.retriable() or err.code() in (KafkaError.NOT_LEADER_FOR_PARTITION,
                                                           KafkaError.LEADER_NOT_AVAILABLE,
                                                           KafkaError.UNKNOWN_TOPIC_OR_PART,
                                                           KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                                           KafkaError.NOT_COORDINATOR)
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(pause_s)


def group_lag(bootstrap_servers: str, group_id: str, topic_names: Iterable[str]) -> int:
    return LagProbe(bootstrap_servers).lag(group_id, topic_names)


# ---- one component process -------------------------------------------------------------------

class ComponentProcess:
    """`python -m papermill` for one component; stopped through its stop file."""

    def __init__(self, spec: ComponentSpec, config: LabConfig):
        self.spec = spec
        self.notebook = config.project_root / "notebooks" / f"{spec.name}.ipynb"
        self.executed = config.runs_dir / f"{spec.name}.ipynb"
        self.log_path = config.runs_dir / f"{spec.name}.log"
        self.stop_file = config.runs_dir / f"{spec.name}.stop"
        self.cwd = config.project_root
        self.popen: subprocess.Popen | None = None
        self.stop_requested_at: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "papermill", str(self.notebook), str(self.executed), "--log-output",
                "--no-progress-bar", "--cwd", str(self.cwd)]
        # interactive=False: headless even when started from inside JupyterLab (whose session
        # variable the kernel would inherit and take for an interactive session).
        fixed = {"stop_file": str(self.stop_file), "interactive": False}
        for key, value in {**self.spec.parameters, **fixed}.items():
            # -r keeps strings as strings (a group id "123" must not become an int);
            # -p lets papermill turn numbers, True/False and None into Python values.
            args += (["-p", key, str(value)] if value is None or isinstance(value, (bool, int, float))
                     else ["-r", key, str(value)])
        return args

    def check(self) -> None:
        """Refuse to start what papermill would run wrongly."""
        if not self.notebook.exists():
            raise PipelineError(f"notebook {self.notebook} is missing; is this a complete checkout?")
        unknown = sorted(set(self.spec.parameters) - notebook_parameters(self.notebook))
        if unknown:  # papermill would only warn and the value would silently do nothing
            raise PipelineError(f"notebook {self.notebook.name} has no parameter(s) {', '.join(unknown)}; "
                                f"the runner and the notebook disagree")

    def start(self) -> None:
        self.check()
        self.stop_file.unlink(missing_ok=True)
        self.executed.unlink(missing_ok=True)
        with self.log_path.open("w") as log:
            # Own session: a terminal Ctrl-C reaches the runner only, which then stops
            # every component through its stop file (papermill itself would die at once).
            # KAFKALAB_SUPERVISOR: the component stops by itself should this process die
            # without stopping it (component.run_loop).
            env = {**os.environ, ENV_SUPERVISOR: supervisor_token()}
            self.popen = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True)

    def request_stop(self) -> None:
        if self.stop_requested_at is None:
            self.stop_file.touch()
            self.stop_requested_at = time.monotonic()

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.popen.wait(timeout_s) if self.popen is not None else None
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        """Last resort after a clean stop timed out: SIGTERM the kernel (a clean stop too), then kill."""
        from kafkalab.runtime.loop import kernel_pids

        if not self.running:
            return
        for pid in kernel_pids(self.popen.pid):
            _signal(pid, signal.SIGTERM)
        if self.wait(15.0) is None:
            for pid in kernel_pids(self.popen.pid):
                _signal(pid, signal.SIGKILL)
            self.popen.kill()
            self.popen.wait(10)

    def last_lines(self, n: int = 3) -> str:
        try:
            lines = [l.strip() for l in self.log_path.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def failure(self) -> str:
        return (f"component {self.name} failed (exit {self.returncode}); executed notebook {self.executed}, "
                f"log {self.log_path}" + (f": {self.last_lines(1)[:300]}" if self.last_lines(1) else ""))


def notebook_parameters(path: Path) -> set[str]:
    """Names assigned in a notebook's `parameters`-tagged cell."""
    import ast
    import json

    cells = json.loads(Path(path).read_text())["cells"]
    names: set[str] = set()
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for node in ast.parse(source).body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ---- progress ----------------------------------------------------------------------------------

class LineCounter:
    """Rows in a growing CSV (lines minus the header), counted incrementally."""

    def __init__(self, path: Path):
        self.path = path
        self._size = 0
        self._lines = 0

    def rows(self) -> int:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._size = self._lines = 0
            return 0
        if size < self._size:  # replaced or truncated: count again
            self._size = self._lines = 0
        if size > self._size:
            with self.path.open("rb") as f:
                f.seek(self._size)
                chunk = f.read(size - self._size)
            complete = chunk.rfind(b"\n") + 1  # only whole lines; the rest next time
            self._lines += chunk.count(b"\n", 0, complete)
            self._size += complete
        return max(0, self._lines - 1)


# ---- the pipeline -------------------------------------------------------------------------------

class Pipeline:
    """Starts, watches, drains and stops the component processes of one plan."""

    def __init__(self, config: LabConfig, plan: PipelinePlan, echo: Callable[[str], None] = print):
        self.config = config
        self.plan = plan
        self.echo = echo
        self.processes = {spec.name: ComponentProcess(spec, config) for spec in plan.components(config)}
        self.lag_probe = LagProbe(config.bootstrap_servers)
        self.interrupted = threading.Event()
        self.counters = {name: LineCounter(config.data_dir / file)
                         for name, file in (("trades", TRADES_CSV), ("candles", CANDLES_CSV),
                                            ("book_features", BOOK_FEATURES_CSV))}

    def rows(self) -> dict[str, int]:
        return {name: counter.rows() for name, counter in self.counters.items()}

    # -- start ------------------------------------------------------------------
    def start(self, names: Iterable[str] | None = None) -> None:
        self.config.runs_dir.mkdir(parents=True, exist_ok=True)
        for name in names or self.processes:
            self.processes[name].start()

    def check(self) -> None:
        """Raise (after stopping the rest cleanly) if a component exited with an error."""
        for proc in self.processes.values():
            if proc.returncode not in (None, 0):
                self.stop_all()
                raise PipelineError(proc.failure())
            if proc.returncode == 0 and not proc.spec.source and proc.stop_requested_at is None:
                self.stop_all()
                raise PipelineError(f"component {proc.name} stopped by itself before the run ended; "
                                    f"see {proc.executed} and {proc.log_path}")

    # -- run and stop -------------------------------------------------------------
    def wait_until_consuming(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> bool:
        """Until every consumer component's group owns all its input partitions.

        Starting the generators only then keeps the first records from waiting for a
        kernel to start (which would show up as start-up latency in the CSVs)."""
        consumers = [p.spec for p in self.processes.values() if not p.spec.source and p.popen is not None]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.interrupted.is_set():
            self.check()
            if all(group_ready(self.lag_probe, spec.group_id, spec.reads) for spec in consumers):
                return True
            tick()
            time.sleep(POLL_S)
        return False

    def wait_for_sources(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> None:
        """Until the generators end by their own bound (or over time: stop them cleanly)."""
        sources = [p for p in self.processes.values() if p.spec.source]
        deadline = time.monotonic() + timeout_s
        while any(p.running for p in sources) and not self.interrupted.is_set():
            self.check()
            if time.monotonic() > deadline:
                self.echo(f"generators still running after {timeout_s:g} s; stopping them")
                self.stop([p.name for p in sources], tick)
                break
            tick()
            time.sleep(POLL_S)
        self.check()

    def drain(self, name: str, timeout_s: float = DRAIN_TIMEOUT_S, tick: Callable[[], None] = lambda: None) -> int:
        """Wait until `name`'s group has committed all of its input (lag 0 for a moment); returns the lag left."""
        spec = self.processes[name].spec
        deadline = time.monotonic() + timeout_s
        zero_since = None
        lag = -1
        while time.monotonic() < deadline and not self.interrupted.is_set():
            self.check()
            try:
                lag = self.lag_probe.lag(spec.group_id, spec.reads)
            except KafkaException:
                lag = -1
            if lag == 0:
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= DRAIN_SETTLE_S:
                    return 0
            else:
                zero_since = None
            tick()
            time.sleep(POLL_S)
        return lag

    def stop(self, names: Iterable[str], tick: Callable[[], None] = lambda: None) -> None:
        procs = [self.processes[n] for n in names]
        for p in procs:
            p.request_stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(p.running for p in procs) and time.monotonic() < deadline:
            tick()
            time.sleep(POLL_S)
        for p in procs:
            if p.running:
                self.echo(f"{p.name} did not stop within {STOP_TIMEOUT_S:g} s; terminating it")
                p.terminate()
            p.stop_file.unlink(missing_ok=True)

    def stop_all(self) -> None:
        self.stop([n for n, p in self.processes.items() if p.running])

    def failures(self) -> list[str]:
        return [p.failure() for p in self.processes.values() if p.returncode not in (None, 0)]


# ---- the command -----------------------------------------------------------------------------------

def _ensure_cluster(config: LabConfig, echo: Callable[[str], None]):
    """Return a LocalCluster we started (to stop later), or None if the cluster was already there."""
    from kafkalab.transports.kafka.cluster import LocalCluster

    try:
        clients.require_reachable(config.bootstrap_servers, timeout_s=5.0)
        return None
    except clients.KafkaUnavailable:
        if config.bootstrap_servers != config.cluster.bootstrap_servers:
            raise  # not ours to start: the message says what to check
    echo(f"no Kafka at {config.bootstrap_servers}; starting the local cluster")
    cluster = LocalCluster(config.cluster, echo=echo)
    cluster.up()
    return cluster


class _Interrupts:
    """SIGINT/SIGTERM -> a flag the pipeline watches (handlers restored on exit)."""

    def __init__(self, flag: threading.Event, echo: Callable[[str], None]):
        self.flag, self.echo, self.previous = flag, echo, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        if not self.flag.is_set():
            self.echo(f"{signal.Signals(signum).name}: stopping every component cleanly...")
        self.flag.set()

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class _Progress:
    """A tqdm bar (seconds of generation, live CSV row counts) on a terminal; a line every few s otherwise."""

    LINE_EVERY_S = 5.0

    def __init__(self, seconds: float, rows: Callable[[], dict[str, int]], echo: Callable[[str], None], show: bool):
        from tqdm import tqdm

        self.seconds, self.rows, self.echo, self.show = seconds, rows, echo, show
        self.started = time.monotonic()
        self.next_line = self.started + self.LINE_EVERY_S
        self.bar = None
        if show and sys.stderr.isatty():
            import shutil

            # A terminal that reports no size (some ptys) would hide the bar: assume 100 x 20.
            size = shutil.get_terminal_size((100, 20))
            self.bar = tqdm(total=round(seconds), unit="s", desc="pipeline", mininterval=0.5,
                            ncols=size.columns, nrows=size.lines,
                            bar_format="pipeline {n:.0f}/{total:.0f} s |{bar:20}| {desc}")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def _text(self, phase: str) -> str:
        return f"{phase}; rows " + ", ".join(f"{k}={v:,}" for k, v in self.rows().items())

    def update(self, phase: str) -> None:
        if self.bar is not None:
            self.bar.n = min(round(self.seconds), round(self.elapsed_s))
            self.bar.set_description_str(self._text(phase), refresh=False)
            self.bar.refresh()
        elif self.show and time.monotonic() >= self.next_line:
            self.next_line = time.monotonic() + self.LINE_EVERY_S
            self.echo(f"[{self.elapsed_s:5.0f} s] {self._text(phase)}")

    def close(self) -> None:
        if self.bar is not None:
            self.update("done")
            self.bar.close()


def run_plan(config: LabConfig, plan: PipelinePlan, echo: Callable[[str], None] = print, show_progress: bool = True) -> int:
    """Run one plan against a reachable cluster; returns 0, or 130 if interrupted; raises on failure."""
    from kafkalab.transports.kafka.sink import require_writable_dir

    require_writable_dir(config.data_dir)
    require_writable_dir(config.runs_dir)
    clients.ensure_topics(config.bootstrap_servers, plan.topics.specs())
    pipeline = Pipeline(config, plan, echo)
    progress = _Progress(plan.seconds, pipeline.rows, echo, show_progress)

    def tick(phase: str = "running") -> Callable[[], None]:
        return lambda: progress.update(phase)

    consumers = [n for n, p in pipeline.processes.items() if not p.spec.source]
    sources = [n for n, p in pipeline.processes.items() if p.spec.source]
    with _Interrupts(pipeline.interrupted, echo):
        try:
            pipeline.start(consumers)
            if not pipeline.wait_until_consuming(CONSUMERS_READY_TIMEOUT_S, tick("starting the consumers")):
                echo(f"consumers not all assigned after {CONSUMERS_READY_TIMEOUT_S:g} s; starting the generators anyway")
            pipeline.start(sources)
            pipeline.wait_for_sources(plan.seconds + GENERATOR_START_GRACE_S, tick())
            # Drain in data-flow order: the processor's output must exist before the sinks finish.
            for name in ("processor_market", "sink_trades_csv", "sink_candles_csv"):
                if pipeline.interrupted.is_set():
                    break
                left = pipeline.drain(name, tick=tick(f"draining {name}"))
                if left:
                    echo(f"{name}: {left if left > 0 else 'unknown'} records still unconsumed after "
                         f"{DRAIN_TIMEOUT_S:g} s; stopping it anyway")
                pipeline.stop([name], tick(f"stopping {name}"))
                pipeline.check()
        finally:
            pipeline.stop_all()
            progress.close()
    failed = pipeline.failures()
    if failed:
        raise PipelineError(failed[0])
    rows = pipeline.rows()
    echo(f"pipeline done in {progress.elapsed_s:.0f} s: " + ", ".join(f"{k} {v:,} rows" for k, v in rows.items())
         + f" in {config.data_dir}; executed notebooks in {config.runs_dir}")
    return 130 if pipeline.interrupted.is_set() else 0


def _preflight(config: LabConfig) -> None:
    """Settings every component would refuse, checked before anything is started."""
    from kafkalab.core import serde
    from kafkalab.transports.kafka.sink import require_writable_dir

    for spec in topics.TOPICS:  # the serializer may be chosen per topic
        serde.check_format(config.serializer_for(spec.name))
    require_writable_dir(config.data_dir)
    require_writable_dir(config.runs_dir)


def run_pipeline(config: LabConfig, seconds: float, trade_rate_hz: float | None = None) -> int:
    """`kafkalab run`: the whole pipeline for `seconds`, on the local cluster if nothing else is configured."""
    if seconds <= 0:
        raise PipelineError(f"--seconds must be positive (got {seconds:g})")

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    _preflight(config)  # bad settings fail in a second, before a cluster is started
    cluster = _ensure_cluster(config, echo)
    try:
        return run_plan(config, PipelinePlan(seconds=seconds, trade_rate_hz=trade_rate_hz), echo)
    finally:
        if cluster is not None:
            echo("stopping the local cluster this run started")
            cluster.down()
