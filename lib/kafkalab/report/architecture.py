"""The report's architecture part, built from the code rather than retyped.

- `component_diagram_dot()`: the component diagram as Graphviz DOT (diagram as code),
  with topic settings taken from kafkalab.transports.kafka.topics; `diagram_svg()` renders it with the
  `dot` program into SVG that is inlined into report.html (no script, no CDN at view
  time). Without `dot` the report shows the DOT text and says how to install Graphviz.
- Tables (as Markdown) of the components, the message interfaces (fields from
  kafkalab.core.models, CSV columns from kafkalab.transports.kafka.sink, notebook parameters read from the
  notebooks' `parameters` cells), the Kafka settings (topics, producer, consumer, the
  local cluster's server properties) and the Docker setup (docker-compose.yml parsed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kafkalab.transports.kafka import clients, sink as sinks, topics
from kafkalab.core import models
from kafkalab.config import ENV_VARS, LabConfig

DIAGRAM_TIMEOUT_S = 30.0


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; `|` and line breaks inside cells are escaped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: object) -> str:
    return f"`{text}`"


# ---- components ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Component:
    key: str
    name: str
    notebook: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    task: str


def _csv(name: str) -> str:
    return f"results/data/{name}"


COMPONENTS: tuple[Component, ...] = (
    Component("gen_trades", "trade generator", "notebooks/generator_trades.ipynb", (), (topics.TRADES,),
              "Simulates executed trades (the simple message): a random walk with bursts per symbol, "
              "each symbol with its own volatility, reproducible from a seed; rate configurable, "
              "reports the rate it actually reached."),
    Component("gen_books", "order-book generator", "notebooks/generator_orderbook.ipynb", (), (topics.ORDERBOOKS,),
              "Simulates order-book snapshots (the complex, nested message: venue metadata, sequence "
              "numbers, price levels on both sides) around the same symbols' current trade prices."),
    Component("processor", "market processor", "notebooks/processor_market.ipynb",
              (topics.TRADES, topics.ORDERBOOKS), (topics.CANDLES, topics.BOOK_FEATURES),
              "A consumer group member: per symbol, 1-second tumbling event-time windows; emits candles "
              "(OHLC, volume, VWAP, count) and book features (mid, spread, imbalance) back into Kafka and "
              "commits its input offsets only after Kafka acknowledged the results."),
    Component("sink_trades", "trades sink", "notebooks/sink_trades_csv.ipynb", (topics.TRADES,),
              (_csv(sinks.TRADES_CSV),),
              "Archives every raw trade as one CSV row (complete lines only, resumes after the last "
              "offset it wrote, commits after the rows are on disk)."),
    Component("sink_candles", "candles sink", "notebooks/sink_candles_csv.ipynb",
              (topics.CANDLES, topics.BOOK_FEATURES), (_csv(sinks.CANDLES_CSV), _csv(sinks.BOOK_FEATURES_CSV)),
              "Stores the derived data (candles, book features) in their own CSVs for later analysis."),
)

# Consumers park records they cannot decode or validate in the dead-letter topic.
DEAD_LETTER_WRITERS = ("processor", "sink_trades", "sink_candles")


def components_table() -> str:
    rows = [[f"**{c.name}**<br>{code(c.notebook)}", ", ".join(map(code, c.reads)) or "–",
             ", ".join(map(code, c.writes)), c.task] for c in COMPONENTS]
    return md_table(["component (notebook)", "reads", "writes", "task"], rows)


# ---- the diagram --------------------------------------------------------------------------

def _retention(ms: str | None) -> str:
    if not ms:
        return "broker default"
    value = int(ms)
    if value < 0:
        return "unlimited"
    for unit, size in (("d", topics.DAY_MS), ("h", topics.HOUR_MS)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} ms"


def _topic_label(spec: topics.TopicSpec) -> str:
    conf = spec.all_configs()
    parts = "partition" if spec.partitions == 1 else "partitions"
    return (f"{spec.name}\\n{spec.partitions} {parts} · RF {spec.replication_factor}\\n"
            f"min ISR {conf.get('min.insync.replicas', '?')} · retention {_retention(conf.get('retention.ms'))}")


MESSAGE_OF_TOPIC = {
    topics.TRADES: models.Trade,
    topics.ORDERBOOKS: models.OrderBook,
    topics.CANDLES: models.Candle,
    topics.BOOK_FEATURES: models.BookFeatures,
}


def _dot_id(text: str) -> str:
    return re.sub(r"\W", "_", text)


def component_diagram_dot(config: LabConfig) -> str:
    """The component diagram in Graphviz DOT: components, topics, files and flows.

    Top to bottom: generators, the Kafka cluster with its topics (the bus every
    component talks through), the consumers, the files they write, the report.
    """
    cluster = config.cluster
    producer = clients.RELIABLE_PRODUCER
    acks = f"acks={producer.get('acks')}"
    lines = [
        "digraph kafkalab {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.45, ranksep=0.75, newrank=true];',
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
        "  subgraph cluster_kafka {",
        f'    label="Apache Kafka {cluster.kafka_version}: {cluster.node_count} KRaft nodes '
        f'(each broker + controller) on {cluster.bootstrap_servers}";',
        '    labeljust=l; style="rounded,filled"; fillcolor="#eef3fb"; color="#6c8ebf";',
    ]
    for spec in topics.TOPICS:
        fill = "#fde2e1" if spec.name == topics.DEAD_LETTERS else "#ffffff"
        lines.append(f'    t_{_dot_id(spec.name)} [shape=cylinder, style=filled, fillcolor="{fill}", '
                     f'label="{_topic_label(spec)}"];')
    lines.append("    { rank=same; " + " ".join(f"t_{_dot_id(s.name)};" for s in topics.TOPICS) + " }")
    # Invisible edges keep the topics in their declared order, dead letters last.
    lines.append("    " + " -> ".join(f"t_{_dot_id(s.name)}" for s in topics.TOPICS) + " [style=invis];")
    lines.append("  }")
    producers, consumers, files = [], [], []
    for c in COMPONENTS:
        (consumers if c.reads else producers).append(c.key)
        lines.append(f'  {c.key} [shape=component, style=filled, fillcolor="#fff2cc", '
                     f'label="{c.name}\\n{Path(c.notebook).name}"];')
        for path in c.writes:
            if path.startswith("results/"):
                files.append(f"f_{_dot_id(path)}")
                lines.append(f'  f_{_dot_id(path)} [shape=note, style=filled, fillcolor="#e2f0d9", label="{path}"];')
    lines.append('  report [shape=note, style=filled, fillcolor="#e2f0d9", '
                 'label="report.ipynb → report.html\\n(reads results/ only)"];')
    for group in (producers, consumers, files):
        lines.append("  { rank=same; " + " ".join(f"{n};" for n in group) + " }")
    for c in COMPONENTS:
        for target in c.writes:
            if target.startswith("results/"):
                lines.append(f'  {c.key} -> f_{_dot_id(target)} [label="append rows", style=bold, color="#548235"];')
                lines.append(f'  f_{_dot_id(target)} -> report [style=dashed, label="read"];')
            else:
                message = MESSAGE_OF_TOPIC[target].__name__
                # The processor writes back into the cluster above it: no rank constraint.
                back = ", constraint=false, color=\"#1f4e79\", fontcolor=\"#1f4e79\"" if c.reads else ""
                lines.append(f'  {c.key} -> t_{_dot_id(target)} [label="produce {message}\\nkey=symbol, {acks}"{back}];')
        for topic in c.reads:
            message = MESSAGE_OF_TOPIC[topic].__name__
            lines.append(f'  t_{_dot_id(topic)} -> {c.key} [label="consume {message}"];')
    for key in DEAD_LETTER_WRITERS:
        lines.append(f'  {key} -> t_{_dot_id(topics.DEAD_LETTERS)} [style=dashed, color="#c00000", constraint=false, '
                     f'tailport=n, headport=s];')
    lines.append('  dlq_note [shape=plaintext, fontsize=8, fontcolor="#c00000", label="dashed red: records a consumer cannot\\n'
                 'decode or validate, with the reason in a header"];')
    lines.append(f'  {{ rank=same; {" ".join(c + ";" for c in consumers)} dlq_note; }}')
    lines.append("}")
    return "\n".join(lines)


class DiagramUnavailable(RuntimeError):
    """Graphviz is not installed (or failed); the message says how to fix it."""


def diagram_svg(dot_source: str) -> str:
    """Render DOT to SVG with Graphviz's `dot` (Debian/Ubuntu package: graphviz)."""
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramUnavailable("Graphviz `dot` is not installed (apt-get install graphviz); showing the DOT source")
    done = subprocess.run([dot, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=DIAGRAM_TIMEOUT_S)
    if done.returncode != 0:
        raise DiagramUnavailable(f"dot failed: {done.stderr.decode(errors='replace').strip()[:200]}")
    svg = done.stdout.decode()
    # Inline in HTML: keep the <svg> element only (no XML prolog or DOCTYPE).
    return svg[svg.index("<svg"):]


# ---- interfaces ---------------------------------------------------------------------------

def messages_table() -> str:
    rows = []
    for topic, cls in MESSAGE_OF_TOPIC.items():
        rows.append([code(topic), f"`{cls.__name__}` ({cls.TYPE})", ", ".join(cls.field_names())])
    rows.append([code(topics.DEAD_LETTERS), "the original record",
                 "original key, value and headers + `dlq.*` headers (reason, component, source topic/partition/offset)"])
    return md_table(["topic", "message (kafkalab.core.models)", "fields"], rows)


def headers_table() -> str:
    from kafkalab.core import serde

    rows = [[code(serde.H_CONTENT_TYPE), ", ".join(code(v) for v in serde.CONTENT_TYPES.values())],
            [code(serde.H_MESSAGE_TYPE), ", ".join(code(t) for t in models.MESSAGE_TYPES)],
            [code(serde.H_SCHEMA_VERSION), code(serde.SCHEMA_VERSION)]]
    return md_table(["record header", "values"], rows)


def csv_table() -> str:
    rows = [[code(_csv(sinks.TRADES_CSV)), ", ".join(sinks.TRADES_COLUMNS)],
            [code(_csv(sinks.CANDLES_CSV)), ", ".join(sinks.CANDLES_COLUMNS)],
            [code(_csv(sinks.BOOK_FEATURES_CSV)), ", ".join(sinks.BOOK_FEATURES_COLUMNS)]]
    return md_table(["file", "columns (kafkalab.transports.kafka.sink)"], rows)


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str  # the source text of the default value
    meaning: str  # the comment on its line


def notebook_parameters(path: Path) -> list[Parameter]:
    """The assignments of a notebook's `parameters` cell, with their end-of-line comments.

    Parsed with `ast` rather than papermill's inspector, which skips lines whose comment
    holds quotes.
    """
    import ast

    import nbformat

    notebook = nbformat.read(path, as_version=4)
    cell = next((c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return []
    source = cell.source
    lines = source.splitlines()
    params = []
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if not isinstance(target, ast.Name) or getattr(node, "value", None) is None:
            continue
        rest = lines[node.end_lineno - 1][node.end_col_offset:]
        meaning = rest.split("#", 1)[1].strip() if "#" in rest else ""
        params.append(Parameter(target.id, ast.get_source_segment(source, node.value) or "", meaning))
    return params


def notebook_parameters_table(project_root: Path) -> str:
    """Parameters shared by every component notebook once, then each notebook's own."""
    found = {c.notebook: notebook_parameters(project_root / c.notebook)
             for c in COMPONENTS if (project_root / c.notebook).exists()}
    if not found:
        return "*(no component notebooks found under notebooks/)*"
    names = [{p.name for p in params} for params in found.values()]
    shared = set.intersection(*names) if names else set()
    first = next(iter(found.values()))
    rows = [["all notebooks", code(p.name), code(p.default), p.meaning] for p in first if p.name in shared]
    for notebook, params in found.items():
        rows += [[code(Path(notebook).name), code(p.name), code(p.default), p.meaning]
                 for p in params if p.name not in shared]
    missing = [c.notebook for c in COMPONENTS if c.notebook not in found]
    table = md_table(["notebook", "parameter", "default", "meaning"], rows)
    return table + (f"\n\n*Not found: {', '.join(map(code, missing))}.*" if missing else "")


def cli_table() -> str:
    from kafkalab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {a.dest: a.help for a in sub._choices_actions}
    rows = [[code(f"kafkalab {name}"), helps.get(name, "")] for name in sub.choices]
    return md_table(["command", "what it does"], rows)


def env_vars_text() -> str:
    return ", ".join(code(v) for v in ENV_VARS)


# ---- Kafka settings -------------------------------------------------------------------------

def topics_table() -> str:
    rows = []
    for spec in topics.TOPICS:
        conf = spec.all_configs()
        rows.append([code(spec.name), spec.partitions, spec.replication_factor,
                     conf.get("min.insync.replicas", ""), _retention(conf.get("retention.ms")),
                     ", ".join(f"`{k}={v}`" for k, v in conf.items())])
    return md_table(["topic", "partitions", "replication factor", "min ISR", "retention", "topic configs"], rows)


def settings_table(settings: dict[str, object]) -> str:
    return md_table(["setting", "value"], [[code(k), code(v)] for k, v in settings.items()])


def server_properties(config: LabConfig, node_id: int = 1) -> dict[str, str]:
    """The server.properties the local cluster writes for one node (no broker needed)."""
    from kafkalab.transports.kafka.cluster import LocalCluster

    text = LocalCluster(config.cluster, echo=lambda _: None)._server_properties(node_id)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def broker_settings_table(config: LabConfig) -> str:
    props = server_properties(config)
    props.pop("log.dirs", None)  # a path on this machine, not a setting worth reading
    return settings_table(props)


def dependencies(project_root: Path) -> list[str]:
    path = project_root / "pyproject.toml"
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text())["project"]["dependencies"])


# ---- Docker -----------------------------------------------------------------------------------

def load_compose(project_root: Path) -> dict | None:
    import yaml

    path = project_root / "docker-compose.yml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text())


def _role(name: str, service: dict) -> str:
    image = str(service.get("image", ""))
    command = " ".join(map(str, service.get("command") or []))
    if "papermill" in command:
        notebook = next((w for w in command.split() if w.startswith("notebooks/")), "?")
        return f"component: runs `{notebook}` with papermill"
    if image.startswith("apache/kafka"):
        env = service.get("environment") or {}
        return f"Kafka node {env.get('KAFKA_NODE_ID', '?')} ({env.get('KAFKA_PROCESS_ROLES', '?')})"
    if command:
        return f"runs `{command}`"
    if "kafdrop" in image:
        return "Kafdrop web UI"
    if "jupyter" in name:
        return "JupyterLab"
    return ""


def compose_services_table(compose: dict) -> str:
    rows = []
    for name, service in (compose.get("services") or {}).items():
        image = service.get("image") or "(built)"
        if service.get("build"):
            build = service["build"]
            image = f"{image} (built from {build.get('dockerfile', 'Dockerfile') if isinstance(build, dict) else build})"
        ports = ", ".join(map(str, service.get("ports") or [])) or "–"
        depends = service.get("depends_on") or {}
        depends = ", ".join(depends if isinstance(depends, list) else depends.keys()) or "–"
        rows.append([f"**{name}**", _role(name, service), code(image), ports, depends])
    return md_table(["service", "role", "image", "host ports", "depends on"], rows)


def compose_environment(compose: dict) -> dict[str, str]:
    """The environment the component containers get (the first papermill service's)."""
    for service in (compose.get("services") or {}).values():
        if "papermill" in " ".join(map(str, service.get("command") or [])):
            return {k: str(v) for k, v in (service.get("environment") or {}).items()}
    return {}


# ---- processing settings (windowing, transactions, groups) ---------------------------------------

def _us(value: int) -> str:
    return f"{value / 1e6:g} s" if value % 1000 == 0 else f"{value} µs"


def processing_settings_table() -> str:
    """Settings of the processing that matter for Kafka, read from the modules that use them."""
    rows: list[list[object]] = []
    try:
        from kafkalab.core import windowing

        rows += [["window size (tumbling, event time)", code("kafkalab.core.windowing.WINDOW_US"), _us(windowing.WINDOW_US)],
                 ["allowed lateness (watermark = max event time − this)",
                  code("windowing.DEFAULT_ALLOWED_LATENESS_US"), _us(windowing.DEFAULT_ALLOWED_LATENESS_US)],
                 ["idle rule: watermark follows the clock after",
                  code("windowing.DEFAULT_IDLE_TIMEOUT_US"), _us(windowing.DEFAULT_IDLE_TIMEOUT_US)]]
    except ImportError:
        pass
    try:
        from kafkalab.transports.kafka import processor

        rows.append(["processor transaction timeout (broker side)", code("processor.TRANSACTION_TIMEOUT_MS"),
                     f"{processor.TRANSACTION_TIMEOUT_MS} ms"])
    except ImportError:
        pass
    try:
        from kafkalab.pipeline.runner import PipelineGroups

        for name, group in vars(PipelineGroups()).items():
            rows.append([f"consumer group of the {name.replace('_', ' ')}", code("runner.PipelineGroups"), code(group)])
    except ImportError:
        pass
    from kafkalab.config import DEFAULT_SERIALIZER

    rows.append(["default serializer", code("config.DEFAULT_SERIALIZER"), code(DEFAULT_SERIALIZER)])
    return md_table(["setting", "defined in", "value"], rows)
