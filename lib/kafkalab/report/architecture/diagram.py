"""The component diagram as Graphviz DOT (diagram as code), rendered to inline SVG by `dot`.

Topic settings come from kafkalab.transports.kafka.topics, components from
architecture.components. Without `dot` the report shows the DOT text and says how to
install Graphviz.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.report.architecture.components import COMPONENTS, DEAD_LETTER_WRITERS, MESSAGE_OF_TOPIC
from kafkalab.report.architecture.settings import retention_text
from kafkalab.transports.kafka import clients, topics

DIAGRAM_TIMEOUT_S = 30.0


def _topic_label(spec: topics.TopicSpec) -> str:
    conf = spec.all_configs()
    parts = "partition" if spec.partitions == 1 else "partitions"
    return (f"{spec.name}\\n{spec.partitions} {parts} · RF {spec.replication_factor}\\n"
            f"min ISR {conf.get('min.insync.replicas', '?')} · retention {retention_text(conf.get('retention.ms'))}")



def _dot_id(text: str) -> str:
    return re.sub(r"\W", "_", text)


# Top to bottom, one row per step of the data: generators, the raw topics, the
# consumers of raw data, the derived topics, the consumer of derived data, the files, the
# report. A component's row is the row after the topics it reads.
# Order books left of trades: the trades topic feeds both the processor and the trades sink.
RAW_TOPICS = (topics.ORDERBOOKS, topics.TRADES)
DERIVED_TOPICS = (topics.CANDLES, topics.BOOK_FEATURES)
EDGE_STYLE = 'fontsize=10, color="#555555"'


def _column_of(component) -> int:
    if not component.reads:
        return 0
    return 2 if set(component.reads) <= set(RAW_TOPICS) else 4


def _position(component) -> tuple[int, int]:
    order = RAW_TOPICS + DERIVED_TOPICS
    first = next(iter(component.reads or component.writes))
    return _column_of(component), order.index(first) if first in order else len(order)


def _component_nodes() -> list[str]:
    lines = []
    # Declared in the order of the topics they write or read, so no two flows cross.
    for c in sorted(COMPONENTS, key=_position):
        lines.append(f'  {c.key} [shape=component, style=filled, fillcolor="#fff2cc", '
                     f'label="{c.name}\\n{Path(c.notebook).name}"];')
        for path in c.writes:
            if path.startswith("results/"):
                lines.append(f'  f_{_dot_id(path)} [shape=note, style=filled, fillcolor="#e2f0d9", label="{path}"];')
    return lines


def _topic_cluster(name: str, label: str, names: tuple[str, ...], dead_letter_writers: str = "") -> list[str]:
    lines = [f"  subgraph cluster_{name} {{", f'    label="{label}"; labeljust=l; style="rounded,filled"; '
             'fillcolor="#eef3fb"; color="#6c8ebf"; fontsize=11;']
    for spec in (topics.TOPICS_BY_NAME[n] for n in names):
        dead = spec.name == topics.DEAD_LETTERS
        label = _topic_label(spec) + (f"\\nfrom the {dead_letter_writers}:\\nrecords that fail to decode or "
                                      "validate\\n(reason in a header)" if dead else "")
        lines.append(f'    t_{_dot_id(spec.name)} [shape=cylinder, style=filled, fillcolor="{"#fde2e1" if dead else "#ffffff"}", '
                     f'label="{label}"];')
    return lines + ["  }"]


def _flows(acks: str) -> list[str]:
    lines = []
    for c in COMPONENTS:
        for topic in c.reads:
            lines.append(f'  t_{_dot_id(topic)} -> {c.key} [label="{MESSAGE_OF_TOPIC[topic].__name__}", {EDGE_STYLE}];')
        for target in c.writes:
            if target.startswith("results/"):
                lines.append(f'  {c.key} -> f_{_dot_id(target)} [label="append rows", style=bold, color="#548235", '
                             'fontsize=10];')
                lines.append(f'  f_{_dot_id(target)} -> report [style=dashed, color="#777777"];')
            else:
                lines.append(f'  {c.key} -> t_{_dot_id(target)} [label="{MESSAGE_OF_TOPIC[target].__name__}\\n'
                             f'key=symbol, {acks}", {EDGE_STYLE}];')
    return lines


def component_diagram_dot(config: LabConfig) -> str:
    """The component diagram in Graphviz DOT: components, topics, files and flows, top to bottom.

    Dead letters are not drawn as edges (three of them would cross the data flows): the
    consumers that write them are marked, and the dead-letter topic sits under the
    derived topics with its writers in its label.
    """
    cluster = config.cluster
    acks = f"acks={clients.RELIABLE_PRODUCER.get('acks')}"
    writers = ", ".join(c.name for c in COMPONENTS if c.key in DEAD_LETTER_WRITERS)
    lines = [
        "digraph kafkalab {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.35, ranksep=0.55, newrank=true, '
        f'labelloc=t, label="Apache Kafka {cluster.kafka_version}: {cluster.node_count} KRaft nodes (each broker + '
        f'controller)\\non {cluster.bootstrap_servers}; every topic lives on all of them"];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
        *_topic_cluster("raw", "Kafka: raw feeds", RAW_TOPICS),
        *_topic_cluster("derived", "Kafka: derived streams and dead letters", DERIVED_TOPICS + (topics.DEAD_LETTERS,),
                       writers),
        *_component_nodes(),
        '  report [shape=note, style=filled, fillcolor="#e2f0d9", label="report.ipynb → report.html\\n'
        '(reads results/ only)"];',
        *_flows(acks),
    ]
    columns: dict[int, list[str]] = {1: [f"t_{_dot_id(t)}" for t in RAW_TOPICS],
                                     3: [f"t_{_dot_id(t)}" for t in DERIVED_TOPICS + (topics.DEAD_LETTERS,)],
                                     5: [], 6: ["report"]}
    for c in sorted(COMPONENTS, key=_position):
        columns.setdefault(_column_of(c), []).append(c.key)
        columns[5] += [f"f_{_dot_id(p)}" for p in c.writes if p.startswith("results/")]
    for nodes in columns.values():
        lines.append("  { rank=same; " + " ".join(f"{n};" for n in nodes) + " }")
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
