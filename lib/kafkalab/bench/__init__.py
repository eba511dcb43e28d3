"""Benchmarks: `kafkalab bench <experiment>` appends rows to results/bench/<experiment>.csv.

Each experiment module registers a function `run(config, quick: bool) -> int` here.
`all` runs every experiment's full grid (`make bench`); `report-set` runs the bounded set
the report needs, each experiment's --quick grid (part of `make run`). Like `kafkalab run`,
a benchmark that needs the lab's cluster starts the local one when nothing answers, and
stops at the end only what it started.
"""

from __future__ import annotations

import importlib
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError, LabError

# experiment name -> module under kafkalab.bench that has `run(config, quick)`
EXPERIMENTS: dict[str, str] = {
    "serializers": "serializers",
    "generator": "generator",
    "producer": "producer",
    "consumer": "consumer",
    "scaling": "scaling",
    "replication": "replication",
    "deepdives": "deepdives",
    "pipeline": "pipeline",
    "reliability": "reliability",  # broker loss on its own private cluster
    "profile": "profile",  # every component under cProfile and py-spy (results/profiles/)
    "transports": "transports",  # Kafka, RabbitMQ (and ZeroMQ) side by side, durable settings of each
    "decode": "decode",  # the consumers' decode hot path: fast vs reference, no broker
    "batching": "batching",  # the processor's records per transaction, before and after (Bonus 4)
    "streams": "streams",  # the market processor: ours against the same job in Kafka Streams, drain rate
    "bottleneck": "bottleneck",  # a processor slowed on purpose: lag grows, a second instance drains it (Bonus 4)
}
# Experiments that start a private cluster of their own and never touch the lab's.
OWN_CLUSTER = frozenset({"replication", "reliability"})
# Experiments that need no broker at all.
NO_CLUSTER = frozenset({"decode"})
# What the report shows, in the order it is measured: each experiment's --quick grid.
# Transports (Part 3) are measured where their benchmark is registered.
REPORT_SET: tuple[str, ...] = ("serializers", "generator", "producer", "consumer", "deepdives", "scaling",
                               "pipeline", "replication", "transports", "profile", "decode", "batching",
                               "bottleneck", "streams")
REPORT_SET_NAME = "report-set"


def selected(name: str) -> tuple[list[str], bool]:
    """The experiments a name stands for, and whether they run their --quick grid."""
    if name == "all":
        return list(EXPERIMENTS), False
    if name == REPORT_SET_NAME:
        return [n for n in REPORT_SET if n in EXPERIMENTS], True
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: all, {REPORT_SET_NAME}, {', '.join(EXPERIMENTS)}")
    return [name], False


def run_experiment(config: LabConfig, name: str, quick: bool = False, echo: Callable[[str], None] = print,
                   options: dict | None = None) -> int:
    """`options`: keyword arguments for one experiment's run (e.g. reliability's `scenarios`)."""
    names, set_quick = selected(name)
    if options and len(names) != 1:
        raise ConfigError(f"options {', '.join(options)} apply to one experiment, not to {name!r}")
    quick = quick or set_quick
    started = time.monotonic()
    failed: list[str] = []
    with lab_cluster(config, echo, needed=any(n not in OWN_CLUSTER | NO_CLUSTER for n in names)):
        for i, n in enumerate(names, 1):
            if len(names) == 1:
                importlib.import_module(f".{EXPERIMENTS[n]}", __name__).run(config, quick=quick, **(options or {}))
                return 0
            echo(f"bench [{i}/{len(names)}] {n}{' --quick' if quick else ''} "
                 f"({time.monotonic() - started:,.0f} s so far)")
            try:
                importlib.import_module(f".{EXPERIMENTS[n]}", __name__).run(config, quick=quick)
            except LabError as exc:  # one experiment's failure must not cost the others' tables
                echo(f"bench {n} failed: {exc}; going on with the next experiment")
                failed.append(n)
    done = f"{len(names) - len(failed)} of {len(names)} experiment(s) in {time.monotonic() - started:,.0f} s"
    if failed:
        raise LabError(f"bench {name}: {done}; failed: {', '.join(failed)} (their messages are above)")
    echo(f"bench {name}: {done}")
    return 0


def lab_cluster(config: LabConfig, echo: Callable[[str], None], needed: bool = True) -> ContextManager[None]:
    """The lab's cluster for the duration: started (and stopped after) only if nothing answered.

    The Kafka transport plan's broker() does exactly that once it is in this checkout; until
    then a local version of it.
    """
    if not needed:
        return nullcontext()
    from kafkalab.pipeline.plan import transport_plan

    try:
        return transport_plan("kafka").broker(config, echo)
    except ConfigError:
        return _local_cluster_if_none_answers(config, echo)


@contextmanager
def _local_cluster_if_none_answers(config: LabConfig, echo: Callable[[str], None]) -> Iterator[None]:
    from kafkalab.transports.kafka import clients
    from kafkalab.transports.kafka.cluster import LocalCluster

    started = None
    try:
        clients.require_reachable(config.bootstrap_servers, timeout_s=5.0)
    except clients.KafkaUnavailable:
        if config.bootstrap_servers != config.cluster.bootstrap_servers:
            raise  # not the local cluster: not ours to start; the message says what to check
        echo(f"no Kafka at {config.bootstrap_servers}; starting the local cluster (stopped again at the end)")
        started = LocalCluster(config.cluster, echo=echo)
        try:
            started.up()
        except BaseException:  # a start that failed half way must not leave nodes running
            started.down()
            raise
    try:
        yield
    finally:
        if started is not None:
            echo("stopping the local cluster this benchmark started")
            started.down()
