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
"""

from __future__ import annotations

import importlib
import os
import tempfile
import uuid

from kafkalab.bench.common import append_rows
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.pipeline.plan import PipelinePlan, private_plan, transport_plan
from kafkalab.pipeline.resources import ResourceMeter
from kafkalab.pipeline.runner import NO_RESTARTS, run_plan
from kafkalab.runtime.params import TRADE_GENERATOR

TRANSPORTS = ("kafka", "rabbitmq", "zeromq")
TABLE = "transports.csv"
USAGE_RATE_HZ = 1000  # trades/s: every transport sustains it on this machine, so the costs compare
USAGE_SECONDS, QUICK_USAGE_SECONDS = 30.0, 10.0


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
        except LabError as exc:
            print(f"transports: {transport} skipped ({exc})")
            continue
        for row in measured:
            print(f"  {row['transport']:<9} {row['metric']:<18} {row.get('component', ''):<20} {row['value']:>12,.2f} "
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
    overrides = {TRADE_GENERATOR: {"rate_hz": USAGE_RATE_HZ}}
    # Kafka gets topics and groups of its own; the other transports have no per-run names to choose
    plan = (private_plan(f"bench-usage-{uuid.uuid4().hex[:6]}", seconds, overrides) if transport == "kafka"
            else PipelinePlan(seconds, overrides=overrides))
    meter = ResourceMeter()
    try:
        with tempfile.TemporaryDirectory(prefix="kl-usage-") as results_dir:
            run_plan(config.with_overrides(transport=transport, results_dir=results_dir), plan, echo=lambda _: None,
                     show_progress=False, mode="python", restart=NO_RESTARTS, meter=meter)
    finally:
        if transport == "kafka":
            from kafkalab.transports.kafka.clients import delete_topics

            delete_topics(config.bootstrap_servers, list(plan.shared_params.streams.values()))
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
