"""`kafkalab profile <component|all>`: every component under cProfile, N runs, plus py-spy.

For each workload (component x offered rate x serializer; several rates or serializers are
measured side by side, their runs interleaved so that every variant sees the same machine):
- N runs under cProfile (kafkalab.runtime.profiling): results/profiles/
  <transport>-<component>-<run>.prof with <run> = "<rate>-<serializer>-<n>", e.g.
  kafka-market-processor-max-msgpack-1.prof; their sum in ...-all.prof (SnakeViz:
  `make profile-view`), drawn as a call graph ...-callgraph.svg (gprof2dot -> Graphviz);
- one more run without cProfile under py-spy (whole process, native frames, idle waits):
  the flame graph ...-flame.svg, and the same loop timing without cProfile's overhead.

results/profiles/summary.csv, one row per workload (plus run_id, run_at, machine):
    transport, component, rate_hz (0 = saturation), serializer, cprofile (False: --no-cprofile),
    runs, seconds_per_run, records
    loop_mean_us, loop_sd_us      mean and sd over the runs of each run's mean step time
    loop_within_sd_us             mean over the runs of the per-step sd inside a run
    iterations                    steps per run (mean)
    records_per_s, records_per_s_sd   over the runs (under cProfile)
    cpu_us_per_record, ..._sd     CPU time of the loop's thread per record (under cProfile); unlike
                                  wall-clock rates it hardly changes when other work shares the cores
    unprofiled_records_per_s, unprofiled_loop_mean_us, unprofiled_cpu_us_per_record   the py-spy run
    top_own, top_cumulative, top_calls   the top functions over all runs: share of the profiled
                                  time spent in the function itself; cumulative seconds per run; calls
    thread_cpu                    CPU seconds per thread name in a run (mean), from /proc
    counters                      the component's counters after the last run
    spy_top_frames, spy_threads   py-spy: innermost frames by share of samples; samples per thread
    prof_files, callgraph_svg, flame_svg
    machine_cpu_percent, load_avg_1m   the machine during the runs (mean): other work on the 2 cores
results/profiles/functions.csv: the top FUNCTION_ROWS functions by own time per workload.
results/bench/profile_experiments.csv: when one component runs in several serializers or rates side
by side, one row per variant (experiment = "serializer", "rate" or both; EXPERIMENT_COLUMNS).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import uuid
from pathlib import Path

from kafkalab.bench.common import append_rows
from kafkalab.bench.profile_flame import thread_shares, top_own_frames
from kafkalab.bench.profile_workloads import COMPONENTS, Workload, check_workload, prepared
from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError, LabError
from kafkalab.runtime.profiling import (ProfiledRun, SamplingProfiler, merge_profiles, run_profiled,
                                        top_functions)

DEFAULT_RUNS = 3
DEFAULT_SECONDS = 15.0
DEFAULT_RECORDS = 20_000
TOP = 3
FUNCTION_ROWS = 15
CALLGRAPH_NODE_MIN_PCT = 1.0  # gprof2dot: leave out nodes below 1 % of the total time
CALLGRAPH_EDGE_MIN_PCT = 0.2


def file_stem(w: Workload) -> str:
    rate = "max" if not w.rate_hz else f"{w.rate_hz:g}hz"
    return f"{w.transport}-{w.component}-{rate}-{w.serializer}"


def parse_rates(text: str) -> list[float]:
    rates = []
    for part in filter(None, (p.strip().lower() for p in str(text).split(","))):
        try:
            rates.append(0.0 if part in ("max", "0") else float(part))
        except ValueError:
            raise ConfigError(f"--rate takes records per second or 'max', comma-separated (got {part!r})") from None
    return rates or [0.0]


def workloads(transport: str, component: str, rates: str, serializers: str, records: int,
              seconds: float) -> list[Workload]:
    names = list(COMPONENTS) if component == "all" else [component]
    formats = [s.strip() for s in serializers.split(",") if s.strip()]
    cells = [Workload(transport, name, rate, fmt, records, seconds)
             for name in names for rate in parse_rates(rates) for fmt in formats]
    for cell in cells:
        check_workload(cell)
    return cells


def profile(config: LabConfig, cells: list[Workload], runs: int = DEFAULT_RUNS, sample: bool = True,
            echo=print, deterministic: bool = True) -> list[dict]:
    """Profile every workload `runs` times (interleaved) and once under py-spy; write the tables.

    deterministic=False: the runs go without cProfile (loop timing and CPU only), for figures
    free of the profiler's overhead."""
    from kafkalab.bench.harness import LoadProbe

    if runs < 1:
        raise ConfigError(f"--runs must be at least 1 (got {runs})")
    out = config.profiles_dir
    work = out / f"work-{uuid.uuid4().hex[:8]}"
    if cells and cells[0].transport == "kafka":
        from kafkalab.transports.kafka.clients import require_reachable

        require_reachable(config.bootstrap_servers)  # one clear line when the cluster is not up
    measured: dict[Workload, list[ProfiledRun]] = {cell: [] for cell in cells}
    sampled: dict[Workload, tuple[ProfiledRun, Path]] = {}
    loads: dict[Workload, list[dict[str, float]]] = {cell: [] for cell in cells}
    try:
        for n in range(1, runs + 1):
            for cell in cells:
                prof = out / f"{file_stem(cell)}-{n}.prof" if deterministic else None
                with prepared(config, cell, work) as component, LoadProbe() as probe:
                    run = run_profiled(component, cell.bounds(), prof)
                measured[cell].append(run)
                loads[cell].append(probe.columns())
                echo(f"{cell.label} run {n}/{runs}: {run.records} records in {run.seconds:.1f} s "
                     f"({run.records_per_s:,.0f}/s), step {run.loop_mean_us:,.0f} ± {run.loop_sd_us:,.0f} us")
        if sample:
            for cell in cells:
                svg = out / f"{file_stem(cell)}-flame.svg"
                with prepared(config, cell, work) as component:
                    run = run_profiled(component, cell.bounds(), None, sampler=SamplingProfiler(svg))
                sampled[cell] = (run, svg)
                echo(f"{cell.label} under py-spy: {run.records_per_s:,.0f} records/s -> {svg.name}")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    rows, functions = [], []
    for cell in cells:
        graph = None
        if deterministic:
            merged = merge_profiles([r.prof_path for r in measured[cell]], out / f"{file_stem(cell)}-all.prof")
            graph = call_graph(merged, out / f"{file_stem(cell)}-callgraph.svg")
            functions += function_rows(cell, [r.prof_path for r in measured[cell]])
        rows.append({**summary_row(cell, measured[cell], sampled.get(cell), graph),
                     **{k: _mean([load[k] for load in loads[cell]]) for k in ("machine_cpu_percent", "load_avg_1m")}})
    append_rows(out / "summary.csv", rows)
    append_rows(out / "functions.csv", functions)
    experiment = experiment_of(cells)
    if experiment:
        append_rows(config.bench_dir / "profile_experiments.csv",
                    [{"experiment": experiment, **{k: row.get(k) for k in EXPERIMENT_COLUMNS}} for row in rows])
    echo(f"profiles, summary.csv and pictures in {out}")
    return rows


EXPERIMENT_COLUMNS = ("transport", "component", "rate_hz", "serializer", "cprofile", "runs", "records_per_s",
                      "records_per_s_sd", "cpu_us_per_record", "cpu_us_per_record_sd", "loop_mean_us", "loop_sd_us",
                      "load_avg_1m")


def experiment_of(cells: list[Workload]) -> str:
    """"serializer" or "rate" when one component was measured in several of them side by side."""
    if len({c.component for c in cells}) != 1 or len(cells) < 2:
        return ""
    varied = [name for name, values in (("serializer", {c.serializer for c in cells}),
                                        ("rate", {c.rate_hz for c in cells})) if len(values) > 1]
    return "+".join(varied)


def _mean(values: list[float], digits: int = 1) -> float:
    return round(statistics.fmean(values), digits) if values else 0.0


def _sd(values: list[float]) -> float:
    return round(statistics.stdev(values), 1) if len(values) > 1 else 0.0


def summary_row(cell: Workload, runs: list[ProfiledRun], sampled: tuple[ProfiledRun, Path] | None,
                graph: Path | None) -> dict:
    profs = [r.prof_path for r in runs if r.prof_path is not None]
    rates = [r.records_per_s for r in runs]
    row = {
        "transport": cell.transport, "component": cell.component, "rate_hz": cell.rate_hz,
        "serializer": cell.serializer, "cprofile": bool(profs), "runs": len(runs), "seconds_per_run": _mean([r.seconds for r in runs], digits=3),  # a quick run lasts 0.1-0.2 s
        "records": _mean([r.records for r in runs]),
        "loop_mean_us": _mean([r.loop_mean_us for r in runs]), "loop_sd_us": _sd([r.loop_mean_us for r in runs]),
        "loop_within_sd_us": _mean([r.loop_sd_us for r in runs]), "iterations": _mean([r.iterations for r in runs]),
        "records_per_s": _mean(rates), "records_per_s_sd": _sd(rates),
        "cpu_us_per_record": _mean([r.cpu_us_per_record for r in runs]),
        "cpu_us_per_record_sd": _sd([r.cpu_us_per_record for r in runs]),
        **({"top_own": _ranked(profs, "own"), "top_cumulative": _ranked(profs, "cumulative"),
            "top_calls": _ranked(profs, "calls")} if profs else {}),
        "thread_cpu": _thread_cpu(runs),
        "counters": " ".join(f"{k}={v}" for k, v in runs[-1].counters.items()),
        "prof_files": " ".join(p.name for p in profs), "callgraph_svg": graph.name if graph else "",
    }
    if sampled is not None:
        run, svg = sampled
        row.update({
            "unprofiled_records_per_s": round(run.records_per_s, 1), "unprofiled_loop_mean_us": run.loop_mean_us,
            "unprofiled_cpu_us_per_record": round(run.cpu_us_per_record, 1),
            "spy_top_frames": "; ".join(f"{name} {share:.1%}" for name, _n, share in top_own_frames(svg, 6)),
            "spy_threads": "; ".join(f"{name} {share:.1%}" for name, share in thread_shares(svg).items()),
            "flame_svg": svg.name,
        })
    return row


def _ranked(profs: list[Path], by: str) -> str:
    top = top_functions(profs, by, TOP)
    if by == "calls":
        return "; ".join(f"{f.function} {f.calls:,}" for f in top)
    if by == "own":
        return "; ".join(f"{f.function} {f.own_share:.1%}" for f in top)
    return "; ".join(f"{f.function} {f.cumulative_s / len(profs):.2f}s" for f in top)  # per run


def _thread_cpu(runs: list[ProfiledRun]) -> str:
    names = sorted({name for r in runs for name in r.thread_cpu_s})
    mean = {name: statistics.fmean(r.thread_cpu_s.get(name, 0.0) for r in runs) for name in names}
    return "; ".join(f"{name} {s:.3f}s" for name, s in sorted(mean.items(), key=lambda kv: -kv[1]) if s >= 0.001)


def function_rows(cell: Workload, profs: list[Path]) -> list[dict]:
    return [{"transport": cell.transport, "component": cell.component, "rate_hz": cell.rate_hz,
             "serializer": cell.serializer, "rank": rank, "function": f.function, "calls": f.calls,
             "own_s": f.own_s, "cumulative_s": f.cumulative_s, "own_share": f.own_share}
            for rank, f in enumerate(top_functions(profs, "own", FUNCTION_ROWS), 1)]


def call_graph(prof: Path, svg: Path) -> Path | None:
    """gprof2dot -> Graphviz dot -> SVG; one line (no picture) when either tool is missing."""
    import shutil

    if shutil.which("dot") is None:
        print(f"no call graph for {prof.name}: Graphviz `dot` is not installed (apt-get install graphviz)")
        return None
    dot_text = subprocess.run([sys.executable, "-m", "gprof2dot", "--format", "pstats",
                               "--node-thres", str(CALLGRAPH_NODE_MIN_PCT), "--edge-thres",
                               str(CALLGRAPH_EDGE_MIN_PCT), str(prof)], capture_output=True, text=True)
    if dot_text.returncode != 0:
        raise LabError(f"gprof2dot failed on {prof.name}: {(dot_text.stderr.strip().splitlines() or ['?'])[-1]}")
    subprocess.run(["dot", "-Tsvg", "-o", str(svg)], input=dot_text.stdout, text=True, check=True)
    return svg


# ---- the benchmark registry's entry (`kafkalab bench profile`, part of `bench report-set`) -------

QUICK_RUNS, QUICK_SECONDS, QUICK_RECORDS = 2, 5.0, 5_000
EXPERIMENT_COMPONENT = "market-processor"  # the serializer experiment: where decoding costs most


def run(config: LabConfig, quick: bool = False) -> int:
    """Every component at saturation, then the processor in each serializer side by side.

    --quick (the report's bounded set): 2 runs of 5 s, 5,000 records each; else the
    command's defaults."""
    runs, seconds, records = (QUICK_RUNS, QUICK_SECONDS, QUICK_RECORDS) if quick else \
        (DEFAULT_RUNS, DEFAULT_SECONDS, DEFAULT_RECORDS)
    own = config.serializer_for("trades")
    profile(config, workloads("kafka", "all", "max", own, records, seconds), runs=runs)
    profile(config, workloads("kafka", EXPERIMENT_COMPONENT, "max", "json,msgpack,avro", records, seconds),
            runs=runs, sample=False)
    return 0


# ---- the command line ----------------------------------------------------------------------------

def add_profile_commands(subparsers) -> None:
    """`kafkalab profile ...` (the lead wires it into cli.py's build_parser)."""
    p = subparsers.add_parser("profile", help="profile components under cProfile and py-spy into results/profiles/")
    p.add_argument("component", help=f"one of: all, {', '.join(COMPONENTS)}")
    p.add_argument("--transport", default="kafka", help="kafka (rabbitmq and zeromq: later)")
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="cProfile runs per workload")
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="each run stops after this long")
    p.add_argument("--rate", default="max", help="records/s offered, 'max' = saturation; "
                                                 "comma-separated rates are measured side by side")
    p.add_argument("--serializer", default="", help="json, msgpack or avro (default: the lab's); comma-separated "
                                                     "formats are measured side by side")
    p.add_argument("--records", type=int, default=DEFAULT_RECORDS,
                   help="records per run at saturation (the backlog a consumer drains)")
    p.add_argument("--no-py-spy", action="store_true", help="skip the sampling run")
    p.add_argument("--no-cprofile", action="store_true",
                   help="runs without cProfile: loop timing and CPU per record free of the profiler's overhead")
    p.set_defaults(func=_profile_command)


def _profile_command(args) -> int:
    from kafkalab import config as lab_config

    cfg = lab_config.load()
    cells = workloads(args.transport, args.component, args.rate, args.serializer or cfg.serializer_for("trades"),
                      args.records, args.seconds)
    profile(cfg, cells, runs=args.runs, sample=not args.no_py_spy, deterministic=not args.no_cprofile)
    return 0
