"""Profiling hooks (kafkalab.runtime.profiling) and the profile command's pure parts, no broker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import ExitStack

import pytest

from kafkalab.bench.profile import file_stem, parse_rates, workloads
from kafkalab.bench.profile_flame import read_frames, thread_shares, top_own_frames
from kafkalab.bench.profile_workloads import Workload
from kafkalab.errors import ConfigError, LabError
from kafkalab.runtime.loop import Bounds, Component
from kafkalab.runtime.profiling import (LoopTimer, SamplingProfiler, cpu_delta, merge_profiles, run_profiled,
                                        thread_cpu_s, top_functions)


def busy_work(n: int) -> int:
    return sum(i * i for i in range(n))


class Worker(Component):
    """Each step does a known amount of Python work in a named function, and sleeps a little."""

    name = "worker"
    counter_names = ("done",)
    message_counter = "done"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def setup(self, stack: ExitStack) -> None:
        self.events.append("setup")
        busy_work(200_000)  # setup work is outside the profiled span

    def step(self) -> None:
        busy_work(20_000)
        self.counters.add("done")
        time.sleep(0.002)

    def finish(self) -> None:
        self.events.append("finish")


def test_run_profiled_times_every_step_and_writes_a_profile(tmp_path):
    prof = tmp_path / "worker-1.prof"
    run = run_profiled(Worker(), Bounds(max_messages=25), prof)
    assert prof.stat().st_size > 0
    assert run.records == 25 and run.iterations == 25
    # each step sleeps 2 ms and computes: the mean is at least that, the spread is finite
    assert 2_000 <= run.loop_mean_us < 1_000_000 and run.loop_sd_us >= 0
    assert run.seconds > 25 * 0.002 and run.records_per_s == pytest.approx(25 / run.seconds)
    # the loop thread's CPU: the computing counts, the sleeping does not
    assert 0 < run.loop_cpu_s < run.seconds and run.cpu_us_per_record == pytest.approx(run.loop_cpu_s * 1e6 / 25)
    calls = {f.function: f.calls for f in top_functions([prof], "calls", 50)}
    busy = [name for name in calls if "busy_work" in name]
    assert busy and calls[busy[0]] == 25  # setup's call is not in the profiled span


def test_the_component_hooks_still_run_and_an_error_still_propagates(tmp_path):
    worker = Worker()
    run_profiled(worker, Bounds(max_messages=3), tmp_path / "w.prof")
    assert worker.events == ["setup", "finish"]

    class Failing(Worker):
        def step(self) -> None:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_profiled(Failing(), Bounds(max_messages=3), tmp_path / "f.prof")


def test_top_functions_orders_by_own_cumulative_and_calls(tmp_path):
    paths = []
    for n in (1, 2):
        paths.append(tmp_path / f"w-{n}.prof")
        run_profiled(Worker(), Bounds(max_messages=10), paths[-1])
    own = top_functions(paths, "own", 5)
    assert [f.own_s for f in own] == sorted((f.own_s for f in own), reverse=True)
    cumulative = top_functions(paths, "cumulative", 5)
    assert [f.cumulative_s for f in cumulative] == sorted((f.cumulative_s for f in cumulative), reverse=True)
    by_calls = {f.function: f.calls for f in top_functions(paths, "calls", 100)}
    assert by_calls[next(n for n in by_calls if "busy_work" in n)] == 20  # the two runs add up
    merged = merge_profiles(paths, tmp_path / "all.prof")
    assert top_functions([merged], "calls", 3) == top_functions(paths, "calls", 3)
    with pytest.raises(ConfigError, match="unknown ordering"):
        top_functions(paths, "wall")


def test_loop_timer_statistics():
    timer = LoopTimer()
    timer.durations_us.extend([10.0, 20.0, 30.0])
    assert timer.iterations == 3 and timer.mean_us() == 20.0 and timer.sd_us() == 10.0
    assert LoopTimer().mean_us() == 0.0 and LoopTimer().sd_us() == 0.0


def test_thread_cpu_names_this_process_threads():
    seen_enough = threading.Event()

    def spin() -> None:  # busy until the reader has seen its CPU (bounded), however busy the machine is
        while not seen_enough.is_set() and time.thread_time() < 30:
            busy_work(10_000)

    spinner = threading.Thread(target=spin, name="spinner")
    before = thread_cpu_s()
    spinner.start()
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 120
    try:
        while sum(seen.values()) < 0.2 and time.monotonic() < deadline:
            seen = cpu_delta(before, thread_cpu_s())  # read while the thread still exists
            time.sleep(0.05)
    finally:
        seen_enough.set()
        spinner.join()
    # /proc counts in clock ticks (10 ms); Python < 3.14 leaves its threads under the process's name
    assert sum(seen.values()) >= 0.2
    assert all(v > 0 for v in seen.values())


def test_py_spy_flame_graph_shows_where_a_process_spends_its_time(tmp_path):
    code = ("import time\n"
            "def hot_loop():\n"
            "    end = time.time() + 4\n"
            "    while time.time() < end:\n"
            "        sum(i for i in range(1000))\n"
            "hot_loop()\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    svg = tmp_path / "flame.svg"
    try:
        with SamplingProfiler(svg, pid=child.pid) as spy:
            time.sleep(2)
    finally:
        child.wait(30)
    assert spy.wrote_svg and read_frames(svg)
    top = top_own_frames(svg, 5)
    assert sum(share for name, _n, share in top if "hot_loop" in name or "genexpr" in name) > 0.5
    assert sum(thread_shares(svg).values()) == pytest.approx(1.0, abs=0.01)


def test_py_spy_on_a_missing_process_fails_with_one_line(tmp_path):
    with pytest.raises(LabError, match="py-spy exited at once"):
        with SamplingProfiler(tmp_path / "x.svg", pid=2**22 + 12345):
            pass


def test_workloads_cross_rates_and_serializers_and_refuse_unknowns():
    cells = workloads("kafka", "market-processor", "max,10", "json,msgpack", 100, 5)
    assert [(c.rate_hz, c.serializer) for c in cells] == [(0, "json"), (0, "msgpack"), (10, "json"), (10, "msgpack")]
    assert len(workloads("kafka", "all", "max", "msgpack", 100, 5)) == 5
    assert file_stem(cells[2]) == "kafka-market-processor-10hz-json"
    with pytest.raises(ConfigError, match="transport 'rabbitmq' has no components to profile yet"):
        workloads("rabbitmq", "market-processor", "max", "msgpack", 100, 5)
    with pytest.raises(ConfigError, match="unknown component"):
        workloads("kafka", "processor", "max", "msgpack", 100, 5)
    with pytest.raises(ConfigError):
        workloads("kafka", "trades-sink", "max", "xml", 100, 5)
    with pytest.raises(ConfigError, match="--rate"):
        parse_rates("fast")
    assert parse_rates("max, 0 ,1000") == [0.0, 0.0, 1000.0]
    from kafkalab.bench.profile import experiment_of

    assert experiment_of(cells) == "serializer+rate"
    assert experiment_of(workloads("kafka", "market-processor", "max", "json,avro", 100, 5)) == "serializer"
    assert experiment_of(workloads("kafka", "all", "max", "msgpack", 100, 5)) == ""


def test_bounds_drain_the_backlog_only_for_consumers_at_saturation():
    sink = Workload("kafka", "trades-sink", 0, "msgpack", 500, 30)
    assert sink.bounds() == Bounds(max_seconds=30, max_messages=500)
    assert Workload("kafka", "trades-sink", 10, "msgpack", 500, 30).bounds().max_messages == 0
    assert Workload("kafka", "trade-generator", 0, "msgpack", 500, 30).bounds().max_messages == 0


def test_the_notebook_profile_hook_names_the_file_and_prints_the_top_functions(tmp_path):
    from kafkalab.runtime.profiling import profile_path, run_with_profile

    path = profile_path(tmp_path, "kafka", "worker")
    assert path.parent == tmp_path and path.name.startswith("kafka-worker-") and path.suffix == ".prof"
    lines: list[str] = []
    run = run_with_profile(Worker(), Bounds(max_messages=5), path, echo=lines.append)
    assert run.records == 5 and path.exists()
    assert "5 loop iterations" in lines[0] and "snakeviz" in lines[0]
    assert lines[1].startswith("  most own time: ") and lines[1].count("%") == 3


def test_summary_of_runs_without_cprofile_has_timing_and_cpu_but_no_top_functions():
    from kafkalab.bench.profile import summary_row
    from kafkalab.runtime.profiling import ProfiledRun

    cell = Workload("kafka", "trades-sink", 0, "msgpack", 100, 30)
    runs = [ProfiledRun("sink-trades-csv", 2.0, 100, 4, 500.0, 50.0, 0.01, {"python": 0.01}, None, {"written": 100}),
            ProfiledRun("sink-trades-csv", 4.0, 100, 6, 700.0, 70.0, 0.03, {"python": 0.03}, None, {"written": 100})]
    row = summary_row(cell, runs, None, None)
    assert row["cprofile"] is False and "top_own" not in row and row["prof_files"] == ""
    assert row["records_per_s"] == pytest.approx(37.5) and row["records_per_s_sd"] == pytest.approx(17.7, abs=0.1)
    assert row["cpu_us_per_record"] == pytest.approx(200.0) and row["loop_mean_us"] == 600.0
    assert row["loop_sd_us"] == pytest.approx(141.4, abs=0.1) and row["loop_within_sd_us"] == 60.0
    assert row["thread_cpu"] == "python 0.020s" and row["counters"] == "written=100"
