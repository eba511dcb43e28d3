"""Which benchmark table the report shows where, with which plots: one explicit table.

A new benchmark is one figures function (and its caption) plus one line in TABLES: the
table's file name, the experiment that writes it, the report section and subsection it
belongs to, and its plots. A table under results/bench/ without a line here is still
shown, as a table, in the appendix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kafkalab.report.figures import (batching, bottleneck, clients, deepdives, load, profiles, reliability, replication,
                                     scaling, serializers, streams, transports)


@dataclass(frozen=True)
class Plot:
    title: str  # what the plot is, for the note when it cannot be drawn
    draw: Callable  # (frame) or (frame, bench) -> Figure; `bench` = every table's latest run
    caption: Callable  # (frame) or (frame, bench) -> one sentence with numbers from the same data


@dataclass(frozen=True)
class BenchTable:
    name: str  # results/bench/<name>.csv
    experiment: str  # `kafkalab bench <experiment>` writes it
    section: str  # the module under kafkalab.report.sections that shows it
    heading: str  # the subsection it appears under (several tables may share one)
    plots: tuple[Plot, ...] = ()  # none: the table itself is shown


RELIABILITY_HEADING = "Experiment: broker loss and network faults while the whole pipeline runs"
STREAMS_HEADING = "Deep dive: Kafka Streams, the same job as our processor"

TABLES: tuple[BenchTable, ...] = (
    BenchTable("serializers", "serializers", "bonus1", "Size, CPU time and throughput per format", (
        Plot("serializer sizes", serializers.plot_serializer_sizes, serializers.caption_serializer_sizes),
        Plot("serializer times", serializers.plot_serializer_times, serializers.caption_serializer_times),
        Plot("serializer throughput", serializers.plot_serializer_throughput, serializers.caption_serializer_throughput))),
    BenchTable("producer", "producer", "part2", "Deep dive: the send and receive limits of the application and of Kafka", (
        Plot("producer ratios", clients.plot_producer_ratios, clients.caption_producer),
        Plot("producer throughput", clients.plot_producer_throughput, clients.caption_producer_throughput))),
    BenchTable("consumer", "consumer", "part2", "Deep dive: the send and receive limits of the application and of Kafka", (
        Plot("consumer ratios", clients.plot_consumer_ratios, clients.caption_consumer),
        Plot("consumer throughput", clients.plot_consumer_throughput, clients.caption_consumer_throughput))),
    BenchTable("generator", "generator", "part2", "Deep dive: the send and receive limits of the application and of Kafka", (
        Plot("generator rate", load.plot_generator_rate, load.caption_generator),)),
    BenchTable("deepdive_rebalance_timeline", "deepdives", "part2", "Deep dive: consumer groups and rebalancing", (
        Plot("rebalance timeline", deepdives.plot_rebalance_timeline_with_events, deepdives.caption_rebalance_timeline),)),
    BenchTable("deepdive_rebalance", "deepdives", "part2", "Deep dive: consumer groups and rebalancing", (
        Plot("rebalance pauses", deepdives.plot_rebalance_pauses, deepdives.caption_rebalance_pauses),)),
    BenchTable("deepdive_rebalance_events", "deepdives", "part2", "Deep dive: consumer groups and rebalancing"),
    BenchTable("deepdive_keys", "deepdives", "part2", "Deep dive: partitions and what a key must look like", (
        Plot("key spread", deepdives.plot_key_spread, deepdives.caption_key_spread),)),
    BenchTable("deepdive_key_map", "deepdives", "part2", "Deep dive: partitions and what a key must look like"),
    BenchTable("deepdive_offsets", "deepdives", "part2", "Deep dive: offsets and reprocessing"),
    BenchTable("deepdive_compaction", "deepdives", "part2", "Deep dive: retention and compaction", (
        Plot("compaction", deepdives.plot_compaction, deepdives.caption_compaction),)),
    BenchTable("deepdive_retention_settings", "deepdives", "part2", "Deep dive: retention and compaction"),
    BenchTable("streams", "streams", "part2", STREAMS_HEADING, (
        Plot("Python processor vs Kafka Streams", streams.plot_streams, streams.caption_streams),)),
    BenchTable("scaling", "scaling", "part2", "Experiment: partitions x consumer-group size", (
        Plot("scaling throughput", scaling.plot_scaling_throughput, scaling.caption_scaling),
        Plot("scaling CPU", scaling.plot_scaling_cpu, scaling.caption_scaling_cpu))),
    BenchTable("scaling_timeline", "scaling", "part2", "Experiment: partitions x consumer-group size", (
        Plot("scaling timeline", scaling.plot_scaling_timeline, scaling.caption_scaling_timeline),)),
    BenchTable("replication", "replication", "part2", "Experiment: replication factor, acks and a broker failure", (
        Plot("replication throughput", replication.plot_replication_throughput,
          replication.caption_replication_throughput),)),
    BenchTable("replication_timeline", "replication", "part2",
               "Experiment: replication factor, acks and a broker failure", (
                   Plot("failure timeline", replication.plot_failure_timeline, replication.caption_failure_timeline),)),
    BenchTable("reliability_timeline", "reliability", "part2", RELIABILITY_HEADING, (
        Plot("reliability timeline", reliability.plot_reliability_timeline, reliability.caption_reliability_timeline),)),
    BenchTable("reliability", "reliability", "part2", RELIABILITY_HEADING),
    BenchTable("pipeline", "pipeline", "part2", "Experiment: the whole pipeline under increasing load", (
        Plot("pipeline latency under load", load.plot_pipeline_latency, load.caption_pipeline),
        Plot("pipeline CPU by component under load", load.plot_pipeline_cpu, load.caption_pipeline_cpu))),
    BenchTable("transports", "transports", "part3", "Measured: Kafka vs RabbitMQ vs ZeroMQ", (
        Plot("transport rates", transports.plot_transport_rates, transports.caption_transport_rates),
        Plot("transport latency", transports.plot_transport_latency, transports.caption_transport_latency),
        Plot("component usage", transports.plot_component_usage, transports.caption_component_usage))),
)

# Shown by the Part 4 section itself (sections.part4's Bonus 4), not by show_subsections.
BONUS4_HEADING = "Bonus 4: a bottleneck, and how to mitigate it"
DECODE = BenchTable("decode", "decode", "part4", BONUS4_HEADING)
BATCHING = BenchTable("batching", "batching", "part4", BONUS4_HEADING, (
    Plot("records per transaction", batching.plot_batching, batching.caption_batching),))
BATCHING_TIMELINE = BenchTable("batching_timeline", "batching", "part4", BONUS4_HEADING)
BOTTLENECK = BenchTable("bottleneck", "bottleneck", "part4", BONUS4_HEADING, (
    Plot("lag with one, then two instances", bottleneck.plot_bottleneck, bottleneck.caption_bottleneck),))
BOTTLENECK_TIMELINE = BenchTable("bottleneck_timeline", "bottleneck", "part4", BONUS4_HEADING)
BY_NAME: dict[str, BenchTable] = {t.name: t for t in (*TABLES, DECODE, BATCHING, BATCHING_TIMELINE, BOTTLENECK,
                                                      BOTTLENECK_TIMELINE)}
# Experiments too long for `make run`'s bounded set (kafkalab.bench.REPORT_SET), and why.
NOT_IN_MAKE_RUN: dict[str, str] = {
    "reliability": "a private cluster and five pipeline runs through broker and network faults, about 7 min on our two-core machine",
}
# Not a results/bench table: the profiler writes results/profiles/summary.csv (Part 4).
PROFILE_SUMMARY = BenchTable("summary", "profile", "part4", "Loop time per component", (
    Plot("loop times", profiles.plot_loop_times, profiles.caption_loop_times),))


def tables_of(section: str) -> list[BenchTable]:
    return [t for t in TABLES if t.section == section]


def headings_of(section: str) -> list[str]:
    """The section's subsections that show benchmark tables, in the order of TABLES."""
    return list(dict.fromkeys(t.heading for t in tables_of(section)))


def command_for(name: str) -> str:
    """The command that writes results/bench/<name>.csv."""
    table = BY_NAME.get(name)
    return f"kafkalab bench {table.experiment if table else name}"
