"""Part 4: performance analysis of the application: profiles of every component, experiments, Bonus 4.

Reads results/profiles/summary.csv (the profiler's table, one row per component and
scenario), lists the .prof files (open one with `snakeviz`) and shows the call graphs and
flame graphs the profiler drew as SVG.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.report import catalog, results
from kafkalab.report.display import (display, guarded, show_heading, show_markdown, show_missing, show_plots,
                                     show_table)
from kafkalab.report.figures import load as load_figures
from kafkalab.report.figures import profiles as figures
from kafkalab.report.figures.common import apply, fmt
from kafkalab.report.markdown import code, md_table

HEADING = "Part 4: performance analysis of the application"
BONUS_HEADING = catalog.BONUS4_HEADING
PROFILE_COMMAND = "kafkalab profile all"
MAX_PICTURES = 6  # call graphs / flame graphs shown inline; the rest are listed
MAX_PICTURE_BYTES = 3 * 2**20
# The profiler's own figures, if its module is in this checkout (it may add plots of its own).
PROFILER_SECTION = "kafkalab.report.sections.part4_profiles"
GOAL_HZ = 50_000  # records/s: per processor instance and for the whole pipeline

INTRO = """\
Every component can run under cProfile (`kafkalab profile <component|all>`, or the notebooks'
`profile` parameter): the loop's time per iteration is measured over several runs (mean and standard
deviation), the heaviest functions are listed by own time, by cumulative time and by call count, and
the profiles are written to `results/profiles/` as `.prof` files (for SnakeViz), call graphs and
flame graphs (SVG, readable without a server).
"""
BONUS = """\
The profiles show two different costs. **Waiting:** at saturation one processor instance used only about a
quarter of a core while it drained a backlog: the rest of the time it sat in the two round trips every
exactly-once step ends with (its input offsets into the transaction, then the commit), and those cost the
same for ten records or ten thousand. The mitigation is the step size: `MarketProcessor` now consumes up to
`BATCH_SIZE` records per step, so per transaction, instead of 1,000. At low rates a step still ends after
`poll_timeout_s` with whatever arrived, so the 10 Hz latency does not change; the exactly-once design,
acks=all and RF 3 are untouched. Before and after, the same backlog drained by one instance, interleaved in
one run (`kafkalab bench batching`):
"""
BONUS_DECODE = """\
**Computing:** in the processor and the sinks, decoding each record (the generic schema check and the model's
validation; under cProfile the shape check was the largest single cost of an order book, the msgpack codec
itself a small part). The mitigation is a fast path in `kafkalab.core.serde.fast`: one pass of inline checks
per message type that builds the record directly, and a fall-back to the reference path
(`decode_reference`, the old code, kept) for anything it does not accept, so every bad input is still refused
with the same reason (a unit test feeds every bad input of the test suite through both). Before and after,
measured side by side in one run (`kafkalab bench decode`):
"""
BONUS_NOT_YET = f"""\
What is not reached yet: the goals of {GOAL_HZ:,} records/s per processor instance and for the whole pipeline.
The batching table above is the processor's own drain rate; the whole pipeline (generators, processor, two
sinks that fsync before they commit, three brokers) shares the same two cores, and `kafkalab bench pipeline`
(Part 2) measures what it sustains.
"""
BONUS_BOTTLENECK = """\
**The opposite, a bottleneck made on purpose:** the processor's `delay_per_record_s` parameter (0, off,
everywhere but in this benchmark) makes each step wait that long per record it consumed, as per-record work
that waits on a slow service would. A wait rather than a CPU loop or a sink that fsyncs every row: one
instance's capacity is then the setting's, not what the two shared cores or the one disk leave, so a second
instance really doubles it. A feed writes trades at a fixed rate above one instance's capacity and below two's
into a two-partition topic; at a set time a second instance joins the group (`kafkalab bench bottleneck`):
"""


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown(INTRO)
    show_heading(2, "Loop time per component")
    show_summary(res)
    show_heading(2, "Profiles and their pictures")
    show_profile_files(res.results_dir / "profiles")
    _show_profiler_section(config, res)
    show_heading(2, BONUS_HEADING)
    show_markdown(BONUS)
    show_batching(res)
    show_markdown(BONUS_DECODE)
    show_decode(res)
    show_markdown(BONUS_NOT_YET.rstrip() + pipeline_cpu_sentence(res.bench.get("pipeline")))
    show_markdown(BONUS_BOTTLENECK)
    show_bottleneck(res)
    frame = res.bench.get("profile_experiments")
    if frame is not None:
        show_markdown("The profiler's own experiments (one component in several serializers, side by side):")
        show_table(frame)


def pipeline_cpu_sentence(frame) -> str:
    """Part 2's CPU per load against the goal, as " <one sentence>" ("" without CPU columns)."""
    best, top, cores = load_figures.cpu_at_the_top(frame) if frame is not None else (None, None, float("nan"))
    row = best if best is not None else top
    if row is None or not row.get("cpu_bound_hz", 0) > 0:
        return ""
    if not load_figures.implies_ceiling(row, cores):
        return (f" Part 2's figure of where the CPU goes per load shows no ceiling in these rows: at its highest "
                f"load the machine was {fmt(top['cpu_pct_total'] / cores, 2)} % busy, so the CPU per trade is mostly "
                f"fixed costs; the full grid (`kafkalab bench pipeline`) loads it to saturation.")
    which = "the highest load it sustained" if best is not None else "its highest load"
    bound = row["cpu_bound_hz"]
    gap = f"{fmt(GOAL_HZ / bound, 2)}× short of the goal" if bound < GOAL_HZ else "above the goal"
    return (f" Part 2's figure of where the CPU goes per load puts the ceiling in numbers: at "
            f"{fmt(row['achieved_hz'])} trades/s, {which}, the pipeline's processes spent "
            f"{fmt(row['cpu_us_per_trade'])} µs of CPU per trade, so at that cost the machine's {fmt(cores)} cores "
            f"carry about {fmt(bound)} trades/s, {gap}.")


def show_batching(res: results.Results) -> None:
    frame = res.bench.get(catalog.BATCHING.name)
    if frame is None:
        show_missing(f"results/bench/{catalog.BATCHING.name}.csv", catalog.command_for(catalog.BATCHING.name))
        return
    show_plots(catalog.BATCHING, frame, res.bench)
    columns = [c for c in ("variant", "repeat", "batch_size", "records_per_s", "transactions", "worker_cores",
                           "broker_cores", "load_avg_1m") if c in frame.columns]
    rows = results.numeric(frame, "records_per_s")
    show_table(rows[columns].assign(records_per_s=rows["records_per_s"].round(0).astype("Int64")))


def show_bottleneck(res: results.Results) -> None:
    frame = res.bench.get(catalog.BOTTLENECK.name)
    if frame is None or catalog.BOTTLENECK_TIMELINE.name not in res.bench:
        show_missing(f"results/bench/{catalog.BOTTLENECK.name}.csv", catalog.command_for(catalog.BOTTLENECK.name))
        return
    show_plots(catalog.BOTTLENECK, frame, res.bench)
    columns = [c for c in ("rate_per_s", "capacity_per_instance", "lag_growth_per_s", "drain_per_s", "lag_at_join",
                           "time_to_caught_up_s", "produced", "lost", "reread", "candles", "candle_mismatches",
                           "load_avg_1m") if c in frame.columns]
    show_table(frame[columns])


def show_decode(res: results.Results) -> None:
    frame = res.bench.get("decode")
    if frame is None:
        show_missing("results/bench/decode.csv", catalog.command_for(catalog.DECODE.name))
        return
    rows = results.numeric(frame, "reference_us", "fast_us", "speedup", "codec_us", "load_avg_1m")
    columns = [c for c in ("message_type", "format", "reference_us", "fast_us", "speedup", "codec_us", "load_avg_1m")
               if c in rows.columns]
    show_table(rows[columns].round(2))
    show_markdown(decode_caption(rows))


def decode_caption(rows) -> str:
    """One sentence from the table: the default format's speed-ups and the range over all."""
    default = rows[rows["format"] == "msgpack"]
    parts = [f"{r.message_type} {r.reference_us:,.1f} → {r.fast_us:,.1f} µs per record ({r.speedup:.2f}×)"
             for r in default.itertuples(index=False)]
    spread = f"{rows['speedup'].min():.2f}× to {rows['speedup'].max():.2f}× over every format and type"
    return "In msgpack (the lab's default): " + "; ".join(parts) + f"; {spread} (median passes, same run)."


def show_summary(res: results.Results) -> None:
    frame = res.profiles
    if frame is None:
        show_missing("results/profiles/summary.csv", PROFILE_COMMAND)
        return
    for plot in catalog.PROFILE_SUMMARY.plots:
        guarded(plot.title, lambda: (apply(plot.draw, frame, res.bench), apply(plot.caption, frame, res.bench)))
    tops = figures.top_function_columns(frame)
    if tops:
        show_markdown("**The heaviest functions** per component (from the summary):")
        keys = [c for c in figures.KEY_COLUMNS if c in frame.columns]
        show_table(frame[keys + tops])


def show_profile_files(folder: Path) -> None:
    profs = sorted(folder.glob("*.prof")) if folder.is_dir() else []
    pictures = sorted(folder.glob("**/*.svg")) if folder.is_dir() else []
    if not profs:
        show_missing("results/profiles/*.prof", PROFILE_COMMAND)
        return
    rows = [[code(p.name), f"{p.stat().st_size / 1024:,.0f} KiB", code(f"snakeviz {p}")] for p in profs]
    show_markdown(f"{len(profs)} profile(s) in `{folder}`:\n\n" + md_table(["file", "size", "open with"], rows))
    from IPython.display import SVG

    shown = [p for p in pictures if p.stat().st_size <= MAX_PICTURE_BYTES][:MAX_PICTURES]
    for picture in shown:
        display(SVG(filename=str(picture)), alt=f"profile picture {picture.name}")
        show_markdown(f"*{picture.name}*")
    rest = [p for p in pictures if p not in shown]
    if rest:
        show_markdown("Further pictures (open in a browser): " + ", ".join(code(p.name) for p in rest) + ".")


def _show_profiler_section(config: LabConfig, res: results.Results) -> None:
    try:
        module = importlib.import_module(PROFILER_SECTION)
    except ImportError:
        return
    show = getattr(module, "show", None)
    if not callable(show):
        return
    try:
        show(config, res)
    except Exception as exc:  # noqa: BLE001 - the profiler's figures must not sink the whole report
        show_markdown(f"> **Could not draw the profiler's figures:** {type(exc).__name__}: {str(exc)[:200]}")
