"""`kafkalab bench transports`: the same load over every transport, side by side in one run.

Each transport measures itself with its durable settings (`kafkalab.transports.<t>.bench
.measure(config, quick) -> rows`), labelled in the `durability` column: Kafka acks=all RF 3
min.isr 2, RabbitMQ publisher confirms into quorum queues on three nodes, ZeroMQ none.
Long format, one row per measurement, appended to results/bench/transports.csv.
Each transport's broker comes from its TransportPlan: the running one, else the local cluster
started for the measurement and stopped after it (as `kafkalab run --transport T` does).
A transport whose bench module is absent, or whose broker cannot be had, is skipped with one
line; the others still run.
"""

from __future__ import annotations

import importlib
import os

from kafkalab.bench.common import append_rows
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.pipeline.plan import transport_plan

TRANSPORTS = ("kafka", "rabbitmq", "zeromq")
TABLE = "transports.csv"


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
        except LabError as exc:
            print(f"transports: {transport} skipped ({exc})")
            continue
        for row in measured:
            print(f"  {row['transport']:<9} {row['metric']:<18} {row['value']:>12,.2f} {row['unit']:<14} "
                  f"{'at ' + str(row['rate_hz']) + ' Hz' if 'rate_hz' in row else '':<12} {row['durability']}")
        # the machine is shared: how busy it was belongs next to every figure
        rows += [{"quick": quick, "load_avg_1m": round(os.getloadavg()[0], 1), **row} for row in measured]
    append_rows(config.bench_dir / TABLE, rows)
    print(f"transports: {len(rows)} rows appended to {config.bench_dir / TABLE}")
    return 0
