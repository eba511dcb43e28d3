"""Profiling hooks for any component's loop: cProfile, loop-iteration timing, thread CPU, py-spy.

Three instruments, because each sees a different part of a component's time:

- `cProfile` (deterministic, every Python call) sees only the thread that enabled it: here
  the loop's thread, from the end of `setup()` to the end of `finish()` (connecting and
  closing are not the loop's work). A call into a C extension (librdkafka's `consume`,
  `produce`, `poll`) is one opaque entry: its time shows as "own time" of that method.
- `LoopTimer` times each `step()` with `perf_counter`, so the loop's mean and standard
  deviation per iteration come from the loop itself, not from the profiler's bookkeeping.
- `thread_cpu_s()` reads every thread's CPU time from /proc (Linux), by thread name:
  librdkafka's own threads (`rdk:main`, `rdk:broker<N>`) do the network and batching work
  that no Python profiler sees.
- `SamplingProfiler` attaches py-spy to the whole process (every Python thread, native
  frames with `--native`, idle waits with `--idle`) and writes its flame graph SVG.

Everything here is transport-free: a transport's component is just a `Component`.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kafkalab.errors import ConfigError, LabError
from kafkalab.runtime.loop import Bounds, Component, run_loop

PY_SPY_RATE_HZ = 50  # 100/s fell seconds behind on a loaded 2-core machine
PY_SPY_START_S = 1.0  # py-spy needs a moment to attach before the loop starts
PY_SPY_STOP_TIMEOUT_S = 30.0


class LoopTimer:
    """Times every `step()` of one component (perf_counter, microseconds)."""

    def __init__(self) -> None:
        self.durations_us: list[float] = []

    def attach(self, component: Component) -> None:
        """Wrap the instance's step (an instance attribute shadows the class method)."""
        step = component.step
        durations, clock = self.durations_us, time.perf_counter

        def timed_step() -> None:
            started = clock()
            try:
                step()
            finally:
                durations.append((clock() - started) * 1e6)

        component.step = timed_step

    @property
    def iterations(self) -> int:
        return len(self.durations_us)

    def mean_us(self) -> float:
        return statistics.fmean(self.durations_us) if self.durations_us else 0.0

    def sd_us(self) -> float:
        return statistics.stdev(self.durations_us) if len(self.durations_us) > 1 else 0.0


def thread_cpu_s(pid: int | None = None) -> dict[str, float]:
    """CPU seconds (user + system) per thread name of a process, from /proc; {} elsewhere.

    librdkafka names its threads (rdk:main, rdk:broker<N>); Python before 3.14 does not pass
    its thread names to the OS, so Python threads add up under the process's name ("python")."""
    root = Path(f"/proc/{pid or os.getpid()}/task")
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    try:
        tasks = list(root.iterdir())
    except OSError:
        return totals
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
            # the name in field 2 may hold spaces: the numbers start after its closing ")"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the thread ended meanwhile
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return totals


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each thread name used between two `thread_cpu_s` readings (threads born
    in between count from zero; threads that ended in between are not seen)."""
    return {name: round(after[name] - before.get(name, 0.0), 3) for name in after
            if after[name] - before.get(name, 0.0) > 0}


@dataclass
class ProfiledRun:
    """What one profiled run of a component measured."""

    component: str
    seconds: float
    records: int
    iterations: int
    loop_mean_us: float
    loop_sd_us: float
    loop_cpu_s: float  # CPU seconds of the loop's thread over the profiled span
    thread_cpu_s: dict[str, float] = field(default_factory=dict)
    prof_path: Path | None = None
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        """The loop thread's CPU per record: what a record costs, whatever else the machine runs."""
        return self.loop_cpu_s * 1e6 / self.records if self.records else 0.0


def run_profiled(component: Component, bounds: Bounds, prof_path: Path | None = None,
                 sampler: "SamplingProfiler | None" = None) -> ProfiledRun:
    """Run `component` through the runtime loop with the loop timer (always), cProfile (when
    `prof_path` is given: written there as a .prof file, SnakeViz/pstats format) and py-spy
    (when a `sampler` is given).

    The profiled span is the loop, from the end of setup() to the end of finish().
    """
    timer = LoopTimer()
    timer.attach(component)
    profiler = cProfile.Profile() if prof_path is not None else None
    cpu_before: dict[str, float] = {}
    cpu_after: dict[str, float] = {}
    span: list[float] = []
    loop_cpu: list[float] = []  # CPU time of the loop's thread: barely moved by other work on the machine
    setup, finish = component.setup, component.finish

    def profiled_setup(stack) -> None:
        setup(stack)
        if sampler is not None:
            stack.enter_context(sampler)  # stops when the loop's clients close, after finish()
        cpu_before.update(thread_cpu_s())
        span.append(time.perf_counter())
        loop_cpu.append(time.thread_time())
        if profiler is not None:
            profiler.enable()

    def profiled_finish() -> None:
        try:
            finish()
        finally:
            if profiler is not None:
                profiler.disable()
            span.append(time.perf_counter())
            loop_cpu.append(time.thread_time())
            cpu_after.update(thread_cpu_s())

    component.setup, component.finish = profiled_setup, profiled_finish
    try:
        counters = run_loop(component, bounds, progress=None)
    finally:
        if profiler is not None:
            profiler.disable()  # after an error in the loop too
    if profiler is not None:
        prof_path.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(prof_path))
    seconds = span[1] - span[0] if len(span) == 2 else 0.0
    return ProfiledRun(component.name, round(seconds, 3), component.message_count(), timer.iterations,
                       round(timer.mean_us(), 1), round(timer.sd_us(), 1),
                       round(loop_cpu[1] - loop_cpu[0], 4) if len(loop_cpu) == 2 else 0.0,
                       cpu_delta(cpu_before, cpu_after), prof_path, counters)


def profile_path(profiles_dir: Path, transport: str, component: str) -> Path:
    """results/profiles/<transport>-<component>-<run>.prof, the run named by its UTC start."""
    return Path(profiles_dir) / f"{transport}-{component}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.prof"


def run_with_profile(component: Component, bounds: Bounds, prof_path: Path, echo=print) -> ProfiledRun:
    """The `profile` parameter of a component's notebook: run it under cProfile, then print the
    loop timing and the three functions with the most own time (plain lines: papermill output)."""
    run = run_profiled(component, bounds, prof_path)
    echo(f"{component.name}: {run.iterations} loop iterations, {run.loop_mean_us:,.0f} ± {run.loop_sd_us:,.0f} us "
         f"each, {run.records_per_s:,.0f} records/s; profile in {prof_path} (open it with snakeviz)")
    top = top_functions([prof_path], "own", 3)
    echo("  most own time: " + "; ".join(f"{f.function} {f.own_share:.1%}" for f in top))
    return run


# ---- reading .prof files ---------------------------------------------------------------------

SORT_KEYS = {"own": "tottime", "cumulative": "cumtime", "calls": "ncalls"}


@dataclass(frozen=True)
class FunctionCost:
    function: str  # "file:line(name)", short file names
    calls: int
    own_s: float
    cumulative_s: float
    own_share: float  # own time / total profiled time


def function_label(key: tuple[str, int, str]) -> str:
    """pstats' (file, line, name) as "package/module.py:line(name)" ("~" files are built-ins)."""
    path, line, name = key
    if path == "~":
        return name  # a built-in such as <method 'consume' of 'cimpl.Consumer' objects>
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{short}:{line}({name})"


def merged_stats(paths: list[Path]) -> pstats.Stats:
    if not paths:
        raise ConfigError("no .prof files to read")
    stats = pstats.Stats(str(paths[0]), stream=open(os.devnull, "w"))
    for path in paths[1:]:
        stats.add(str(path))
    return stats


def top_functions(paths: list[Path], by: str = "own", limit: int = 10) -> list[FunctionCost]:
    """The `limit` most expensive functions over the given profiles, by own time, cumulative
    time or call count."""
    if by not in SORT_KEYS:
        raise ConfigError(f"unknown ordering {by!r}; choose one of: {', '.join(SORT_KEYS)}")
    stats = merged_stats(paths)
    total = stats.total_tt or 1e-9
    rows = [FunctionCost(function_label(key), int(nc), round(tt, 6), round(ct, 6), round(tt / total, 4))
            for key, (_cc, nc, tt, ct, _callers) in stats.stats.items()]
    attribute = {"own": "own_s", "cumulative": "cumulative_s", "calls": "calls"}[by]
    return sorted(rows, key=lambda r: getattr(r, attribute), reverse=True)[:limit]


def merge_profiles(paths: list[Path], out: Path) -> Path:
    """One .prof holding the sum of several runs (for the call graph and SnakeViz)."""
    merged_stats(paths).dump_stats(str(out))
    return out


# ---- py-spy ----------------------------------------------------------------------------------

def py_spy_path() -> str:
    """py-spy next to this interpreter (the virtualenv) or on PATH; one line if missing."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise ConfigError("py-spy is not installed; `pip install py-spy` (it is a dependency of kafkalab)")
    return found


class SamplingProfiler:
    """py-spy attached to a running process (default: this one) until the block ends.

    Samples every Python thread with native frames (C extensions such as librdkafka's
    Python binding), idle threads included, so waits show up as well as work. py-spy
    needs ptrace rights (root, or kernel.yama.ptrace_scope=0). Threads that hold no
    Python interpreter state (librdkafka's own threads) are not sampled: `thread_cpu_s`
    accounts for them.
    """

    def __init__(self, svg_path: Path, pid: int | None = None, rate_hz: int = PY_SPY_RATE_HZ,
                 native: bool = True, log_path: Path | None = None) -> None:
        self.svg_path, self.pid, self.rate_hz, self.native = svg_path, pid or os.getpid(), rate_hz, native
        self.log_path = log_path or svg_path.with_suffix(".log")
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [py_spy_path(), "record", "--pid", str(self.pid), "--rate", str(self.rate_hz), "--idle",
                "--threads", "--function", "--format", "flamegraph", "--output", str(self.svg_path),
                *(["--native"] if self.native else [])]

    def __enter__(self) -> "SamplingProfiler":
        self.svg_path.parent.mkdir(parents=True, exist_ok=True)
        self.svg_path.unlink(missing_ok=True)
        with self.log_path.open("w") as log:
            self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        time.sleep(PY_SPY_START_S)
        if self._proc.poll() is not None:
            raise LabError(f"py-spy exited at once (code {self._proc.returncode}): "
                           f"{self._last_log_line()}; it needs ptrace rights (root or ptrace_scope=0)")
        return self

    def __exit__(self, *exc) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            proc.wait(PY_SPY_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text().splitlines() if line.strip()]
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"

    @property
    def wrote_svg(self) -> bool:
        return self.svg_path.exists() and self.svg_path.stat().st_size > 0
