"""`kafkalab run`: the whole pipeline over one transport, each component its own process.

    run_pipeline(config, seconds, trade_rate_hz=None) -> exit code

1. The transport's plan makes sure a broker answers (Kafka: the local cluster is started
   when the bootstrap servers are the local default and nobody answers, and stopped at the
   end) and declares the streams.
2. The processor and the two sinks start (unbounded); once each has written its ready file
   (setup done) and, where the transport can tell, owns its input, the two generators start,
   bounded to `seconds`, so no record waits for a kernel to start.
3. When the generators have finished, drain in data-flow order: wait until the processor's
   backlog is 0 for a moment, stop it through its stop file; then the same for the sinks.
4. Supervision, as a container orchestrator would (`restart: on-failure` in compose): a
   component that dies (non-zero exit, e.g. kill -9) is restarted after a back-off, at most
   RestartPolicy.max_restarts times, each restart one log line naming the component and its
   exit code; the summary lists them. A component that keeps failing ends the run: the
   others are stopped cleanly and one line names it, its executed notebook and its log.
   SIGINT/SIGTERM to the runner stop every component the same clean way.

`Pipeline` is used by the end-to-end tests and the benchmarks with their own plan
(kafkalab.pipeline.plan.private_plan) and results folder.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from kafkalab.config import LabConfig
from kafkalab.core.csvstore import BOOK_FEATURES_CSV, CANDLES_CSV, TRADES_CSV
from kafkalab.pipeline.launcher import ComponentProcess, PipelineError
from kafkalab.pipeline.plan import CONSUMERS, PipelinePlan, TransportPlan, transport_plan
from kafkalab.pipeline.progress import LineCounter, Progress
from kafkalab.pipeline.resources import ResourceMeter
from kafkalab.runtime.logs import log
from kafkalab.runtime.loop import ready_file
from kafkalab.runtime.params import ENGINES, MARKET_PROCESSOR, TRADE_GENERATOR, ComponentParams

GENERATOR_START_GRACE_S = 90.0  # papermill + kernel start-up on a busy 2-core machine
STOP_TIMEOUT_S = 45.0  # a clean stop may flush a producer for a while (clients.FLUSH_TIMEOUT_S 30 s)
DRAIN_TIMEOUT_S = 60.0
CONSUMERS_READY_TIMEOUT_S = 120.0
DRAIN_SETTLE_S = 1.0  # the backlog must stay at 0 this long (the processor emits after its input)
QUIET_SETTLE_S = 5.0  # where the backlog is unknown (ZeroMQ): no new rows for this long
POLL_S = 0.25

__all__ = ["Pipeline", "PipelineError", "RestartPolicy", "run_plan", "run_pipeline"]


@dataclass(frozen=True)
class RestartPolicy:
    """Bounded restarts with exponential back-off (first_backoff_s, doubling, at most max_backoff_s)."""

    max_restarts: int = 3  # per component and run
    first_backoff_s: float = 1.0
    max_backoff_s: float = 16.0

    def backoff_s(self, restart: int) -> float:
        """The wait before restart number `restart` (1, 2, ...)."""
        return min(self.max_backoff_s, self.first_backoff_s * 2 ** (restart - 1))


NO_RESTARTS = RestartPolicy(max_restarts=0)


class Pipeline:
    """Starts, supervises, drains and stops the component processes of one plan."""

    def __init__(self, config: LabConfig, plan: PipelinePlan, mode: str = "notebook",
                 restart: RestartPolicy = RestartPolicy(), meter: ResourceMeter | None = None):
        self.config, self.plan, self.restart = config, plan, restart
        self.meter = meter or ResourceMeter()
        self.transport: TransportPlan = transport_plan(config.transport)
        self.processes = {spec.name: ComponentProcess(spec, config, mode) for spec in plan.components()}
        self.interrupted = threading.Event()
        self.restarts: list[tuple[str, int]] = []  # (component, exit code) of every restart
        self._restart_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self.log = log("pipeline")
        self.counters = {name: LineCounter(config.data_dir / file) for name, file in
                         (("trades", TRADES_CSV), ("candles", CANDLES_CSV), ("book_features", BOOK_FEATURES_CSV))}

    def rows(self) -> dict[str, int]:
        """Rows in each CSV file, this run's and earlier runs'."""
        return {name: counter.rows() for name, counter in self.counters.items()}

    def rows_this_run(self) -> dict[str, int]:
        """Rows this run added to each CSV file."""
        return {name: counter.rows_added() for name, counter in self.counters.items()}

    @property
    def consumers(self) -> list[str]:
        return [n for n, p in self.processes.items() if not p.spec.source]

    @property
    def sources(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.spec.source]

    # -- start and supervise ----------------------------------------------------------
    def start(self, names: Iterable[str] | None = None) -> None:
        for name in (self.processes if names is None else names):  # [] means none, not all
            self.processes[name].start()
            self._started_at[name] = time.monotonic()

    def check(self) -> None:
        """Restart a component that died (within the policy); raise once one cannot be."""
        now = time.monotonic()
        for name, proc in self.processes.items():
            if name in self._restart_at:
                if now >= self._restart_at[name]:
                    del self._restart_at[name]
                    self._restart(proc)
                continue
            code = proc.returncode
            if code is None or proc.popen is None:
                continue
            if code == 0 and (proc.spec.source or proc.stop_requested_at is not None):
                continue  # ended by its bound or by our request
            if code == 0:
                self.stop_all()
                raise PipelineError(f"component {name} stopped by itself before the run ended; "
                                    f"see {proc.executed} and {proc.log_path}")
            if proc.stop_requested_at is not None or len(self._restarts_of(name)) >= self.restart.max_restarts:
                self.stop_all()
                raise PipelineError(proc.failure() + self._restart_note(name))
            self.restarts.append((name, code))
            wait = self.restart.backoff_s(len(self._restarts_of(name)))
            self.log.warning(f"{name} exited with code {proc.describe_exit()}; restart {len(self._restarts_of(name))} of "
                             f"{self.restart.max_restarts} in {wait:g} s (log {proc.log_path})")
            self._restart_at[name] = now + wait

    def _restarts_of(self, name: str) -> list[int]:
        return [code for n, code in self.restarts if n == name]

    def _restart_note(self, name: str) -> str:
        codes = self._restarts_of(name)
        return f" after {len(codes)} restart(s) (exit codes {', '.join(map(str, codes))})" if codes else ""

    def _restart(self, proc: ComponentProcess) -> None:
        if proc.spec.source and proc.spec.params.max_seconds:
            # a generator keeps to the run's length: only the time it has left
            left = proc.spec.params.max_seconds - (time.monotonic() - self._started_at[proc.name])
            proc.extra = {"max_seconds": round(max(1.0, left), 1)}
        else:
            self._started_at[proc.name] = time.monotonic()
        proc.start()

    @property
    def restarting(self) -> bool:
        return bool(self._restart_at)

    def summary_of_restarts(self) -> str:
        if not self.restarts:
            return "no restarts"
        return "restarts: " + ", ".join(f"{n} (exit {c})" for n, c in self.restarts)

    # -- waiting ---------------------------------------------------------------------------
    def _poll_until(self, done: Callable[[], bool], timeout_s: float, tick: Callable[[], None]) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.interrupted.is_set():
            self.check()
            self._sample_resources()
            if done():
                return True
            tick()
            time.sleep(POLL_S)
        return False

    def _sample_resources(self) -> None:
        for name, proc in self.processes.items():
            self.meter.sample(name, proc.component_pids())
        if all(proc.ready for proc in self.processes.values()):
            self.meter.begin()

    def consuming(self, name: str) -> bool:
        """Setup done (ready file) and, where the transport can tell, the input assigned."""
        proc = self.processes[name]
        if not proc.ready:
            return False
        assigned = getattr(self.transport, "assigned", None)
        return assigned is None or assigned(self.config, name, proc.spec.params)

    def wait_until_consuming(self, timeout_s: float, tick: Callable[[], None] = lambda: None,
                             names: Iterable[str] | None = None) -> bool:
        """Until every started consumer is consuming (see `consuming`)."""
        names = [n for n in (self.consumers if names is None else names) if self.processes[n].popen is not None]
        return self._poll_until(lambda: all(self.consuming(n) for n in names), timeout_s, tick)

    def wait_for_sources(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> None:
        """Until the generators end by their own bound (or over time: stop them cleanly)."""
        done = self._poll_until(lambda: not self.restarting and not any(self.processes[n].running for n in self.sources),
                                timeout_s, tick)
        if not done and not self.interrupted.is_set():
            self.log.warning(f"generators still running after {timeout_s:g} s; stopping them")
            self.stop(self.sources, tick)
        self.check()

    def backlog(self, name: str) -> int | None:
        try:
            return self.transport.backlog(self.config, name, self.processes[name].spec.params)
        except Exception as exc:  # noqa: BLE001 - a probe during a leader change: ask again
            self.log.debug(f"backlog of {name} unknown for now: {exc}")
            return -1

    def settle_s(self, name: str) -> float:
        """How long the transport's backlog of `name` must read 0 to be believed (0: at once)."""
        settle = getattr(self.transport, "settle_s", None)
        return settle(name) if settle is not None else 0.0

    def drain(self, name: str, timeout_s: float = DRAIN_TIMEOUT_S, tick: Callable[[], None] = lambda: None) -> int:
        """Wait until `name` has consumed all its input (backlog 0 for a moment; where the
        transport cannot tell, no new rows for QUIET_SETTLE_S); returns the backlog left."""
        state = {"since": None, "left": -1, "rows": None}

        def settled() -> bool:
            left = self.backlog(name) if not self.restarting else -1
            settle_s = max(DRAIN_SETTLE_S, self.settle_s(name))
            if left is None:  # unknown: rows that stop growing
                rows = self.rows()
                left, settle_s = (0 if rows == state["rows"] else -1), QUIET_SETTLE_S
                state["rows"] = rows
            state["left"] = left
            if left != 0:
                state["since"] = None
                return False
            state["since"] = state["since"] or time.monotonic()
            return time.monotonic() - state["since"] >= settle_s

        return 0 if self._poll_until(settled, timeout_s, tick) else state["left"]

    # -- stop --------------------------------------------------------------------------------
    def stop(self, names: Iterable[str], tick: Callable[[], None] = lambda: None) -> None:
        procs = [self.processes[n] for n in names]
        for p in procs:
            self._restart_at.pop(p.name, None)
            p.request_stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(p.running for p in procs) and time.monotonic() < deadline:
            tick()
            time.sleep(POLL_S)
        for p in procs:
            if p.running:
                self.log.warning(f"{p.name} did not stop within {STOP_TIMEOUT_S:g} s; terminating it")
                p.terminate()
            p.stop_file.unlink(missing_ok=True)
            ready_file(p.stop_file).unlink(missing_ok=True)

    def stop_all(self) -> None:
        self._restart_at.clear()
        self.stop([n for n, p in self.processes.items() if p.running])

    def failures(self) -> list[str]:
        return [p.failure() for p in self.processes.values() if p.returncode not in (None, 0)]


# ---- the command ---------------------------------------------------------------------------------

class _Interrupts:
    """SIGINT/SIGTERM -> a flag the pipeline watches (handlers restored on exit)."""

    def __init__(self, flag: threading.Event):
        self.flag, self.previous = flag, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        if not self.flag.is_set():
            log("pipeline").warning(f"{signal.Signals(signum).name}: stopping every component cleanly...")
        self.flag.set()

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_plan(config: LabConfig, plan: PipelinePlan, echo: Callable[[str], None] = print, show_progress: bool = True,
             mode: str = "notebook", restart: RestartPolicy = RestartPolicy(), meter: ResourceMeter | None = None,
             during: Callable[[Pipeline], None] | None = None) -> int:
    """Run one plan against a reachable broker; returns 0, or 130 if interrupted; raises on failure.
    `echo` gets the one result line (plain text); progress and restarts go to the log; `meter`, when
    given, keeps each component's CPU and memory for the caller; `during`, when given, is called with
    the pipeline at every poll while the generators run (a benchmark's fault, e.g. a kill -9)."""
    from kafkalab.core.csvstore import require_writable_dir

    require_writable_dir(config.data_dir)
    require_writable_dir(config.runs_dir)
    pipeline = Pipeline(config, plan, mode, restart, meter)
    pipeline.transport.prepare(config, plan.shared_params)
    progress = Progress(plan.seconds, pipeline.rows_this_run, pipeline.log.info, show_progress)

    def tick(phase: str = "running") -> Callable[[], None]:
        return lambda: progress.update(phase)

    def running() -> None:
        progress.update("running")
        if during is not None:
            during(pipeline)

    with _Interrupts(pipeline.interrupted):
        try:
            pipeline.start(pipeline.consumers)
            if not pipeline.wait_until_consuming(CONSUMERS_READY_TIMEOUT_S, tick("starting the consumers")):
                pipeline.log.warning(f"consumers not all consuming after {CONSUMERS_READY_TIMEOUT_S:g} s; "
                                     f"starting the generators anyway")
            pipeline.start(pipeline.sources)
            pipeline.wait_for_sources(plan.seconds + GENERATOR_START_GRACE_S, running)
            pipeline.meter.end()
            for name in CONSUMERS:  # data-flow order: the processor's output exists before the sinks finish
                if pipeline.interrupted.is_set():
                    break
                left = pipeline.drain(name, tick=tick(f"draining {name}"))
                if left:
                    pipeline.log.warning(f"{name}: {left if left > 0 else 'an unknown number of'} records still "
                                         f"unconsumed after {DRAIN_TIMEOUT_S:g} s; stopping it anyway")
                pipeline.stop([name], tick(f"stopping {name}"))
                pipeline.check()
        finally:
            pipeline.stop_all()
            progress.close()
    failed = pipeline.failures()
    if failed:
        raise PipelineError(failed[0])
    echo(f"pipeline ({config.transport}) done in {progress.elapsed_s:.0f} s: this run wrote "
         + ", ".join(f"{k} {v:,}" for k, v in pipeline.rows_this_run().items())
         + f" rows; the files in {config.data_dir} now hold "
         + ", ".join(f"{k} {v:,}" for k, v in pipeline.rows().items())
         + f" rows; {pipeline.summary_of_restarts()}; {pipeline.meter.summary()}; executed notebooks in {config.runs_dir}")
    return 130 if pipeline.interrupted.is_set() else 0


def _preflight(config: LabConfig) -> None:
    """Settings every component would refuse, checked before anything is started."""
    from kafkalab.core import serde
    from kafkalab.core.streams import STREAMS
    from kafkalab.core.csvstore import require_writable_dir

    for stream in STREAMS:  # the serializer may be chosen per stream
        serde.check_format(config.serializer_for(stream))
    require_writable_dir(config.data_dir)
    require_writable_dir(config.runs_dir)


def run_pipeline(config: LabConfig, seconds: float, trade_rate_hz: float | None = None,
                 processor: str = "python") -> int:
    """`kafkalab run`: the whole pipeline for `seconds` over config.transport; `processor` "streams" runs
    the market processor as the Kafka Streams application (Kafka only)."""
    from kafkalab.runtime import logs

    if seconds <= 0:
        raise PipelineError(f"--seconds must be positive (got {seconds:g})")
    logs.configure(sys.stderr)  # what happens on the way; the result line goes to stdout
    plan = transport_plan(config.transport)  # an unknown or missing transport: one line, before anything starts
    _preflight(config)  # bad settings fail in a second, before a broker is started
    overrides = {TRADE_GENERATOR: {"rate_hz": trade_rate_hz}} if trade_rate_hz is not None else {}
    if str(processor).strip().lower() not in ENGINES:  # one line, before anything starts
        raise PipelineError(f"--processor must be one of {', '.join(ENGINES)} (got {processor!r})")
    engine = ComponentParams.from_parameters(engine=processor).engine
    if engine != "python":
        if config.transport != "kafka":
            raise PipelineError(f"--processor {engine} runs on the kafka transport only (got {config.transport})")
        overrides[MARKET_PROCESSOR] = {"engine": engine}
    with plan.broker(config, log("pipeline").info):
        return run_plan(config, PipelinePlan(seconds=seconds, overrides=overrides))
