"""Part 1: the cluster and the application, the run's results, and the six questions of 1.3.

Results first (the diagram, then what the latest complete pipeline run produced), then
each question of the assignment's 1.3 as a heading with the answer under it. The long
settings tables (producer, consumer, broker, notebook parameters, compose services) are
in the appendix; the answers point there.
"""

from __future__ import annotations

import pandas as pd

from kafkalab.config import LabConfig
from kafkalab.report import results, runs
from kafkalab.report.architecture import components, diagram, interfaces, settings
from kafkalab.report.display import guarded, show_diagram, show_heading, show_markdown, show_missing
from kafkalab.report.figures import pipeline as figures
from kafkalab.report.markdown import code, md_table

HEADING = "Part 1: Kafka cluster and application"
QUESTIONS = (
    "What are the tasks of the components?",
    "Which interfaces do the components have?",
    "Why did we decide to use these components?",
    "Which other design decisions did we make, and which requirements does a component have?",
    "Which Kafka features do we use, and how do they correlate to the cluster and topic settings?",
    "How is the Docker setup of the application built?",
)
DIAGRAM_ALT = ("Component diagram, top to bottom: the two generators, the raw Kafka topics, the processor and the "
               "trades sink, the derived topics and dead letters, the candles sink, the CSV files, the report")


PROBLEM = """\
A trading desk watches simulated markets for a handful of instruments. Two feeds arrive continuously:

- **trades**: small and frequent, one record per executed trade (symbol, price, size, side, times);
- **order-book snapshots**: large and nested, the best price levels on each side of the book with
  venue metadata and sequence numbers.

The desk needs, in real time and stored for later analysis, per-second **candles** (open, high, low,
close, volume, VWAP, trade count) and **book features** (mid price, spread, depth imbalance). It must
not lose data when a machine fails, and each part must be restartable and scalable on its own: a slow
CSV writer must not slow down the feeds, a crashed processor must resume where it stopped.

Apache Kafka sits in the middle: the feeds write to topics, the computations and the storage read
from them at their own pace. The feeds are simulated (random walks with bursts, several symbols with
different volatility, reproducible from a seed), so the whole system runs on one machine.
"""


TASKS = """\
Each component is a small class in the `kafkalab` package run by one shared loop (bounded by
`max_seconds` / `max_messages`, stoppable with a Stop button in JupyterLab, a signal or a stop file,
always closing its clients), started from its own thin notebook.
"""


INTERFACES = """\
Components never call each other: their interfaces are Kafka topics (typed messages with a key and
headers), CSV files, the notebooks' parameters, environment variables and one command line.
"""


WHY = """\
- **Kafka as the backbone.** The feeds, the computation and the storage run at different speeds and
  fail independently. A replicated, persistent log decouples them: a producer does not wait for a
  consumer, a consumer that restarts continues from its committed offset, and data survives a broker loss.
- **Two generators, two message shapes.** Trades (simple, frequent) and order books (complex, nested,
  larger) are separate feeds in reality and stress Kafka differently; separate processes can be started,
  stopped and scaled on their own.
- **A processor that writes back to Kafka.** Candles and book features become streams of their own:
  durable, replayable, and available to any further consumer (a dashboard, an alert) without
  recomputation. The sinks stay simple.
- **Sinks as separate consumer groups.** Each sink keeps its own offsets, so one can lag, stop or be
  rebuilt by replaying from the beginning without touching the others.
- **A dead-letter topic.** A record that cannot be decoded or validated is parked with its reason
  instead of stopping the pipeline or being dropped silently.
- **Notebooks plus a package.** The assignment asks for notebooks to start and stop each loop; the
  logic lives in a tested package, the notebooks are thin, and papermill runs the same notebooks
  headless as processes (locally) or containers (Docker).
"""


DESIGN = """\
- **Key = instrument symbol.** All records of a symbol land in one partition, in order, and are handled
  by one processor instance, which keeps that symbol's window state.
- **Event-time windows.** Candles are computed over tumbling windows of the trades' own timestamps
  (not arrival time), so a replay yields the same candles. A window closes when the watermark (the
  latest event time seen minus an allowed lateness) passes its end; a record that arrives for a window
  already closed is *late* and goes to `dead-letters` with the reason (settings in the appendix).
- **Exactly once, end to end.** The processor writes its results, its dead letters and its input offsets
  in one Kafka transaction: all or nothing. Its readers use `read_committed`, so an aborted step leaves
  no trace. The sinks commit only after rows are on disk and drop any record at or below the last
  offset already in the CSV, so a restart neither loses nor duplicates rows.
- **Times in every message.** Event time and produced time (integer microseconds) travel with every
  message and the sinks add the written time, so latency is measured from the CSVs alone.
- **Pluggable serialization.** JSON, MessagePack or Avro per topic/component; the format travels in a
  header, so consumers decode whatever they receive (Bonus 1 measures the formats).
- **Configuration in one place.** Environment variables are read only in `kafkalab.config`; notebook
  parameters override them per run.
- **Client library.** The application uses `confluent-kafka` (librdkafka); `kafka-python` is measured
  against it in the benchmarks.
- **Requirements.** Python (see `requires-python` in `pyproject.toml`) with the packages below, a Java
  runtime (JDK 17 or newer) for the brokers, Maven to fetch Kafka's jars once, Graphviz to draw the
  diagram above. Hardware: every component is a single-threaded Python process; the brokers get a fixed
  JVM heap each.
"""


FEATURES = """\
| Kafka feature | what it gives the application | where it is set (topics below, the rest in the appendix) |
|---|---|---|
| topics and partitions | one topic per message type; partitions are the unit of parallelism: they bound how many processor instances share the work | `partitions` per topic |
| message keys | per-symbol order and per-symbol state in one consumer | producers set `key=symbol` |
| replication, in-sync replicas | a record acknowledged with `acks=all` is on at least `min.insync.replicas` brokers; one broker may fail without data loss, writes are refused (not lost) when too few replicas are left | `replication factor`, `min.insync.replicas`, producer `acks` |
| idempotent producer | retries after a broker failure neither duplicate nor reorder records | `enable.idempotence` |
| batching and compression | fewer, larger requests; less network and disk | `linger.ms`, `compression.type` |
| consumer groups | each component is its own group; partitions are spread over a group's instances and rebalanced when one joins or leaves | `group.id` per component |
| committed offsets | manual commits after the work is safe: restart where the last run stopped | `enable.auto.commit=false`, `auto.offset.reset` |
| transactions | the processor's results, dead letters and input offsets commit atomically (exactly-once processing); a restarted instance fences its predecessor | processor `transactional.id` per instance, transaction timeout, readers' `isolation.level=read_committed` |
| static group membership | a restarted processor instance gets its partitions back without waiting for a session timeout | processor `group.instance.id` |
| retention | raw feeds kept shorter than the derived data | `retention.ms` per topic |
| record headers | the serialization format and schema version, the dead-letter reason | `kafkalab.core.serde`, `kafkalab.transports.kafka.deadletters` |
| KRaft | no ZooKeeper: each node is broker and controller, the controllers form a quorum | `process.roles`, `controller.quorum.voters` |
| no auto-creation | a typo in a topic name fails instead of creating a topic with default settings | `auto.create.topics.enable` |
"""


DOCKER = """\
`docker compose up -d` starts the same application in containers: Kafka nodes in KRaft mode from the
official `apache/kafka` image, a one-shot job that creates the topics from the same topic table as the
local runner, Kafdrop to browse the cluster, JupyterLab to start and stop components interactively, and
one container per generator, processor and sink, each running its notebook with papermill from one image
built from `jupyter/Dockerfile`. Containers reach the brokers by service name on an internal listener;
the host reaches them on published ports bound to 127.0.0.1 only; results go to the host's `results/`
through a volume. The services, read from `docker-compose.yml`, are listed in the appendix. This machine
has no Docker engine: the compose file and the Dockerfile are checked statically by the tests
(`tests/unit/deploy/test_compose.py`, also loaded with compose-go) and kept in step with the local runner.
"""


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown(PROBLEM)
    show_heading(2, "Component diagram")
    show_component_diagram(config)
    show_heading(2, "Results of the pipeline run")
    show_run(res)
    show_heading(3, "Trade prices and candles per symbol")
    show_prices(res)
    show_heading(3, "End-to-end latency per stream")
    show_latency(res)
    show_heading(3, "Message rates over time per component")
    show_rates(res)
    answers = (lambda: show_markdown(TASKS + "\n\n" + components.components_table()),
               lambda: show_interfaces(),
               lambda: show_markdown(WHY),
               lambda: show_requirements(config, res),
               lambda: show_kafka_features(),
               lambda: show_markdown(DOCKER))
    for question, answer in zip(QUESTIONS, answers):
        show_heading(2, question)
        answer()


def show_component_diagram(config: LabConfig) -> None:
    show_diagram(diagram.component_diagram_dot(config), DIAGRAM_ALT,
                 "Component diagram, generated from the code (Graphviz DOT): yellow boxes are processes "
                 "(one papermill notebook each), cylinders are topics with their settings, green notes are "
                 "files. Arrows are data flows labelled with the message type (and, into Kafka, the key and "
                 "acks); no arrow crosses another.")


def _missing_data(what: str) -> None:
    show_missing(what, results.PIPELINE_COMMAND, results.PIPELINE_ALTERNATIVE)


def _data_file(name: str) -> str:
    return f"results/data/{results.PIPELINE_FILES[name]}"


def show_run(res: results.Results) -> None:
    """Which run is shown (and why, after a failed or short one), then how each component ran."""
    if res.run_note:
        show_markdown(f"> **Note on the run shown:** {res.run_note}")
    table = runs.component_runs(res.results_dir)
    if table is None:
        if res.trades is None:
            _missing_data("results/runs/*.ipynb and results/data/*.csv (no pipeline run yet)")
        return
    rows = [[code(r.component), str(r.start_time or "")[:19].replace("T", " "),
             f"{r.duration_s:,.1f} s" if pd.notna(r.duration_s) else "", "**failed**" if r.failed else "ok",
             code(r.parameters) if r.parameters else "defaults"] for r in table.itertuples()]
    show_markdown("The latest pipeline run, from the executed notebooks in `results/runs/` (papermill parameters; "
                  "unset ones keep the notebook's defaults, listed in the appendix):\n\n"
                  + md_table(["component", "started (UTC)", "ran for", "result", "parameters"], rows))


def show_prices(res: results.Results) -> None:
    if res.trades is None:
        _missing_data(_data_file("trades"))
        return
    if res.candles is None:
        _missing_data(_data_file("candles") + " (the plot shows trades only)")
    guarded("prices and candles", lambda: (
        figures.plot_prices_and_candles(res.trades, res.candles),
        figures.caption_prices_and_candles(res.trades, res.candles, res.pipeline_all.get("trades"))))


def show_latency(res: results.Results) -> None:
    missing = [n for n in results.STREAMS if res.pipeline.get(n) is None]
    if len(missing) == len(results.STREAMS):
        _missing_data("results/data/*.csv")
        return
    for name in missing:
        _missing_data(_data_file(name))
    guarded("the latency CDF", lambda: (figures.plot_latency_cdf(res.pipeline), figures.caption_latency(res.pipeline)))


def show_rates(res: results.Results) -> None:
    rates = results.message_rates(res.pipeline)
    if rates.empty:
        _missing_data("results/data/*.csv")
        return
    guarded("message rates", lambda: (figures.plot_message_rates(rates), figures.caption_message_rates(rates)))


def show_interfaces() -> None:
    show_markdown("\n\n".join([
        INTERFACES,
        "**Kafka topics and their messages** (one dataclass per message type; JSON, MessagePack or Avro "
        "on the wire):", interfaces.messages_table(),
        "**Record headers** that tell a consumer how to decode a value, whatever format the producer chose:",
        interfaces.headers_table(),
        "**CSV files** written by the sinks:", interfaces.csv_table(),
        "The notebooks' parameters, the environment variables and the command line are listed in the appendix.",
    ]))


def show_requirements(config: LabConfig, res: results.Results) -> None:
    deps = settings.dependencies(config.project_root)
    text = [DESIGN, f"Python packages (from `pyproject.toml`): {', '.join(code(d) for d in deps)}."]
    machine = settings.machine_of(res.bench)
    if machine:
        text.append("The benchmarks were measured on: " + ", ".join(machine) + ".")
    show_markdown("\n\n".join(text))


def show_kafka_features() -> None:
    show_markdown("\n\n".join([
        FEATURES, "**Topics** (`kafkalab.transports.kafka.topics.TOPICS`, created by `kafkalab topics create` and by "
        "the Docker `topics` job):", settings.topics_table(),
        "The producer, consumer, processing and broker settings behind this table are in the appendix.",
    ]))
