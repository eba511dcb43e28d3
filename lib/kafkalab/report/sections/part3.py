"""Part 3: communication patterns (Kafka vs RabbitMQ vs ZeroMQ), the measured comparison, Bonus 3."""

from __future__ import annotations

import importlib

from kafkalab.config import LabConfig
from kafkalab.report import results
from kafkalab.report.architecture.rabbitmq_diagram import topology_dot
from kafkalab.report.display import show_diagram, show_heading, show_markdown
from kafkalab.report.figures import transports
from kafkalab.report.markdown import code, md_table
from kafkalab.report.sections import bonus3
from kafkalab.report.sections.tables import show_subsections

HEADING = "Part 3: communication patterns"
BONUS_HEADING = bonus3.HEADING
TRANSPORTS = ("kafka", "rabbitmq", "zeromq")
RABBITMQ_HEADING = "The RabbitMQ topology"
RABBITMQ_ALT = ("RabbitMQ topology, top to bottom: the generators publish to the lab.feeds topic exchange, which "
                "routes trades to the trades sink's queue and, through a consistent-hash exchange, trades and "
                "order books to two processor shard queues; the processor publishes candles and book features "
                "back to lab.feeds, which routes them to the candles sink's queue")
RABBITMQ_CAPTION = ("RabbitMQ topology, generated from `kafkalab.transports.rabbitmq.topology` (Graphviz DOT): "
                    "yellow boxes are components, striped boxes exchanges (type and arguments), rounded boxes "
                    "quorum queues; edge labels are routing or binding keys. The broker pushes to consumers, who "
                    "ack each message once its output is confirmed or on disk. A symbol's records all hash to one "
                    "shard queue, whose single active consumer keeps them in order.")
# The design each transport promises (DESIGN.md); the measured side is in the table below.
PATTERNS = (
    ("kafka", "publish/subscribe over a partitioned, replicated log; consumers pull and can replay",
     "3 KRaft nodes (RF 3, min ISR 2)", "exactly-once processor, acknowledged = stored"),
    ("rabbitmq", "exchange → queues, the broker pushes, competing consumers, per-message ack",
     "3-node RabbitMQ cluster, quorum queues", "at-least-once + idempotent sinks: acknowledged = stored, no duplicate rows"),
    ("zeromq", "brokerless socket pipeline (push/pull, pub/sub)", "none",
     "at-most-once; every loss counted by sequence gaps, never silent"),
)

QUESTIONS = {
    "Which communication pattern does Kafka use?": """\
Publish/subscribe over a **log**: producers append records to a partitioned, replicated, persistent
log (a topic); every consumer group reads it independently and *pulls* at its own pace, keeping its
own position (offset). A record is not removed when read: retention decides how long it stays, so a
new group can replay history. Within a partition the order is fixed; the key decides the partition.""",
    "How does the chosen pattern differ?": """\
**RabbitMQ** is a message broker with **queues**: producers publish to an exchange, bindings route a
copy to each bound queue, the broker *pushes* messages to consumers, and a message is deleted once a
consumer acknowledges it. Competing consumers on one queue share its work message by message (no
partitions to plan), but once acknowledged a message is gone: there is no replay, and order holds
only per queue with one consumer. **ZeroMQ** has **no broker**: sockets in a pattern (push/pull for
a pipeline, pub/sub for fan-out) connect the processes directly; messages live only in memory
buffers of the two ends, so a crashed or slow receiver loses messages (we count every loss by
per-producer sequence numbers).""",
    "What are the advantages and disadvantages of each pattern?": md_table(
        ["pattern", "advantages", "disadvantages"],
        [["Kafka (log)", "replay and reprocessing; many independent readers at no extra cost; durable, "
          "replicated; per-key order; exactly-once with transactions; very high throughput through batching",
          "partitions fix the parallelism up front; operating a cluster; per-message routing and priorities "
          "are not its model; latency is tuned against batching"],
         ["RabbitMQ (queues)", "flexible routing (direct, topic, fanout exchanges); per-message ack, "
          "redelivery, dead-lettering; competing consumers scale without partition planning; low latency "
          "at moderate rates", "no replay once acked; each extra reader needs its own queue (a copy); "
          "throughput per queue bounded by one queue leader; ordering weakens with several consumers"],
         ["ZeroMQ (brokerless)", "no broker to run: the lowest latency and the highest rate per process; "
          "patterns as library calls", "no durability: a message in flight when a process dies is lost; "
          "no replay, no consumer groups, no back-pressure beyond socket buffers (high-water marks drop "
          "or block); discovery and recovery are the application's job"]]),
    "How does each pattern scale, and what are the challenges?": """\
**Kafka** scales by partitions: more partitions spread a topic over brokers and let more instances of
a consumer group work in parallel (Part 2 measures it); the challenges are choosing the partition
count early (adding partitions moves keys), rebalancing pauses, and hot keys. **RabbitMQ** scales
consumers freely on one queue, and brokers by spreading queues over nodes; one queue is served by one
leader, so a single hot stream needs sharding by hand (consistent-hash exchange, several queues), and
quorum queues pay a Raft round per write. **ZeroMQ** scales like the network: add workers behind a
push socket and the messages are dealt out round robin; the challenges are everything a broker would
have done: discovery of peers, flow control, recovery and durability.""",
    "Which other topologies or patterns exist for data processing?": md_table(
        ["pattern", "how it differs", "use cases"],
        [["request/reply (RPC, gRPC, REST)", "synchronous, one caller waits for one answer; no decoupling in "
          "time", "queries, commands that need an answer now (place an order, fetch a quote)"],
         ["stream processing with state (Kafka Streams, Flink)", "operators with local state and windows over "
          "a log, exactly-once by checkpoints/changelogs", "joins, aggregations, sessionisation over long "
          "windows (what our processor does by hand)"],
         ["batch / micro-batch (Spark, files on object storage)", "process bounded chunks on a schedule; "
          "high throughput, latency of minutes", "end-of-day reports, back-tests, training models on history"],
         ["MQTT (publish/subscribe for devices)", "a lightweight broker protocol with QoS levels 0/1/2 and "
          "retained messages, over unreliable links", "sensors, mobile clients, IoT fan-in"]]),
    "Which pattern suits our application best?": """\
**Kafka**, for this desk: the derived streams must be durable, replayable (rebuild a CSV, back-test
on retained trades) and read by several independent consumers (two sinks today, a dashboard or
alerting tomorrow) at their own pace, with per-symbol order; the exactly-once processor relies on
Kafka transactions. RabbitMQ would do for the live pipeline with at-least-once and idempotent sinks,
at the cost of replay and one queue per reader; ZeroMQ suits a lossy, lowest-latency fan-out (a live
price ticker to screens) where a lost tick is replaced by the next, not the archive.""",
}

def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown("The Part 1 application runs unchanged over three transports (`kafkalab run --transport "
                  "kafka|rabbitmq|zeromq`, the notebooks' `transport` parameter, `KAFKALAB_TRANSPORT`). "
                  "They share data, not code: message types, payload and headers, stream names and the CSV "
                  "schema; each transport writes its own small components.\n\n" + patterns_table())
    show_heading(2, RABBITMQ_HEADING)
    show_diagram(topology_dot(), RABBITMQ_ALT, RABBITMQ_CAPTION)
    show_subsections("part3", res)
    measured = {"What are the advantages and disadvantages of each pattern?": transports.measured_tradeoffs,
                "How does each pattern scale, and what are the challenges?": transports.measured_costs}
    frame = res.bench.get("transports")
    for question, answer in QUESTIONS.items():
        show_heading(2, question)
        show_markdown(answer)
        if question in measured and (figures := measured[question](frame)):
            show_markdown(f"*{figures}*")
    bonus3.show(config)


def patterns_table() -> str:
    rows = [[code(t), pattern, broker, promise, _installed(t)] for t, pattern, broker, promise in PATTERNS]
    return md_table(["transport", "pattern", "broker", "durability we promise", "in this checkout"], rows)


def _installed(transport: str) -> str:
    """The transport package's own first docstring line, or that it is not in this checkout."""
    try:
        module = importlib.import_module(f"kafkalab.transports.{transport}")
    except ImportError:
        return "not in this checkout"
    doc = (module.__doc__ or "").strip().splitlines()
    return doc[0] if doc else code(f"kafkalab.transports.{transport}")
