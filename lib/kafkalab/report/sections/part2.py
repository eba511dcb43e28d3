"""Part 2: performance analysis and evaluation of Kafka: deep dives with use cases, experiments, Bonus 2."""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.report import catalog, results
from kafkalab.report.display import show_heading, show_markdown
from kafkalab.report.sections import part2_streams
from kafkalab.report.sections.tables import show_subsections

HEADING = "Part 2: performance analysis and evaluation of Kafka"
BONUS_HEADING = "Bonus 2: more than two deep dives"
LIMITS = "Deep dive: the send and receive limits of the application and of Kafka"
REBALANCE = "Deep dive: consumer groups and rebalancing"
KEYS = "Deep dive: partitions and what a key must look like"
OFFSETS = "Deep dive: offsets and reprocessing"
RETENTION = "Deep dive: retention and compaction"
SCALING = "Experiment: partitions x consumer-group size"
REPLICATION = "Experiment: replication factor, acks and a broker failure"
LOAD = "Experiment: the whole pipeline under increasing load"
FAULTS = catalog.RELIABILITY_HEADING
STREAMS = part2_streams.HEADING

INTRO = """\
Every experiment starts from a known cluster state, runs bounded and appends its rows (with the
machine, the versions and the settings) to `results/bench/<experiment>.csv`; the report shows the
latest run of each. Experiments that stop brokers run on a private cluster of their own. This is a
2-core machine shared with other work: absolute numbers are lower bounds, ratios measured in the
same run are what to compare (each caption gives the load average during the run).
"""

BEFORE = {
    LIMITS: "How fast can one Python producer or consumer go, compared with Kafka's own Java tools on "
            "the same cluster, and how fast does the application's trade generator go?",
    REBALANCE: "*Use case:* the desk adds a second and a third processor instance when trading gets busy "
               "and removes them later. What happens to the partitions, how long does each pause, and is "
               "anything delivered twice?",
    KEYS: "*Use case:* every record of a symbol must stay in order, so the symbol is the key. With a handful "
          "of symbols and more partitions, how evenly is the work spread, and what does a hot key or no key do?",
    OFFSETS: "*Use case:* a sink's CSV was lost or a bug was fixed: rebuild the file by replaying the topic "
             "from the beginning with a new consumer group, and check that it equals the original.",
    RETENTION: "*Use case:* the raw feeds only need to be kept for a while, but the latest value per key "
               "(for example the last known state of each instrument) must be kept forever: a compacted topic.",
    SCALING: "What changes when the trades topic has more partitions and the processor's consumer group more "
             "instances (separate processes)? The group drains a fixed backlog.",
    REPLICATION: "What does replication cost (RF 1 vs 3, acks=1 vs all), and what does a producer see when "
                 "a broker is killed under load (acks=all, RF 3, min ISR 2, idempotent)?",
    STREAMS: part2_streams.BEFORE,
    LOAD: "The real pipeline (all five components as processes) at increasing trade rates: latency and "
          "consumer lag until the load is no longer sustained.",
    FAULTS: "The whole pipeline (five processes, exactly-once processor, acks=all, RF 3, min ISR 2) at a high "
            "trade rate while brokers fail: kill -9 of one broker; two brokers down (below min ISR, then back "
            "one by one); and network faults made with nftables on the loopback device: one broker, or the "
            "one leading most `trades` partitions, cut off from its peers and the clients for 30 s (packets "
            "dropped, no reset: everyone finds out by timeouts), and 5 % random packet loss on one broker. "
            "Each scenario ends by comparing what the trade generator saw acknowledged with trades.csv, and "
            "every candle with the one recomputed from it. (This kernel has no `tc netem`, so added latency "
            "is not among them.)",
}

AFTER = {
    LIMITS: "**Use cases.** Sizing: how many producer processes a feed needs and when batching "
            "(`linger.ms`, compression) pays; choosing a client library: the ratios above say how far each "
            "Python client is from Kafka's Java tools in the same cell, on the same cluster.",
    REBALANCE: "**Use cases.** Autoscaling consumers without stopping the world: the cooperative protocol "
               "moves only the partitions that change owner; static membership (`group.instance.id`) lets a "
               "restarted instance take its partitions back without a rebalance.",
    KEYS: "**Use cases.** Per-entity ordering (orders of one account, readings of one sensor) needs the entity "
          "as key; a key space much smaller than the partition count leaves partitions empty, a hot key "
          "caps one partition's consumer: then split the key (symbol + venue) or add partitions early, "
          "since adding them later moves keys.",
    OFFSETS: "**Use cases.** Rebuilding a derived store, back-testing a new strategy on yesterday's trades, "
             "or repairing after a bug: any new consumer group can read the retained log from the start "
             "while the live consumers carry on.",
    FAULTS: "**Reading the timeline.** The controller fences a silent broker after its 9 s session timeout "
            "and moves the partitions it led, yet every partition is acknowledged again only later "
            "(`ack_resume_s`, in the caption above), sometimes after the fault has healed: produce requests "
            "already sent to the cut-off broker have to time out first (librdkafka's `request.timeout.ms`, "
            "30 s by default), and the producer's connection to it must be re-established; we have not "
            "measured the two apart. Meanwhile the other partitions flow, and nothing is lost or doubled, "
            "since the idempotent producer retries in order. Packet loss costs retransmissions, not data.",
    STREAMS: part2_streams.AFTER,
    RETENTION: "**Use cases.** Time-based retention for raw feeds (cost-bounded history), compaction for "
               "state (the latest price, the latest configuration per key), both together for a changelog "
               "that can rebuild a table.",
}

BONUS = """\
Part 2 asks for at least two deep dives; this report has six, each measured on the real cluster:
the send and receive limits, consumer groups and rebalancing, partitions and keys, offsets and
reprocessing, retention and compaction, Kafka Streams (the same job as our processor); and three experiments that change the cluster's settings
(partitions and group size, replication factor and acks with a broker failure, the pipeline under load).
"""


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown(INTRO)
    show_subsections("part2", res, before=BEFORE, after=AFTER)
    show_heading(2, BONUS_HEADING)
    show_markdown(BONUS)
