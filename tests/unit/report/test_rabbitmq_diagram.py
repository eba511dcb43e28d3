"""The RabbitMQ topology diagram: drawn from topology.py, every declared piece in it, flows downward."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from kafkalab.report.architecture.rabbitmq_diagram import FEEDS_OUT, topology_dot
from kafkalab.transports.rabbitmq import topology as t

DOT = topology_dot()
EDGES = re.findall(r"^\s*(\w+) -> (\w+) \[label=\"([^\"]*)\"", DOT, re.MULTILINE)


def node(prefix: str, name: str) -> str:
    return prefix + re.sub(r"\W", "_", name)


def test_every_exchange_queue_and_consumer_of_the_topology_is_drawn():
    for exchange in t.EXCHANGES:
        assert f"{node('x_', exchange.name)} [" in DOT and f"({exchange.type})" in DOT
    for queue in t.QUEUES:
        assert f"{node('q_', queue.name)} [" in DOT
    for consumer, queues in t.CONSUMER_QUEUES.items():
        for queue in queues:
            assert (node("q_", queue), node("c_", consumer), "push, ack") in EDGES


def test_every_binding_is_an_edge_with_its_key():
    def drawn(sources: set[str], dst: str, key: str) -> bool:
        return any(s in sources and d == dst and key in label.split(", ") for s, d, label in EDGES)

    for src, dst, key in t.EXCHANGE_BINDINGS:
        assert drawn({node("x_", src)}, node("x_", dst), key), (src, dst, key)
    for queue in t.QUEUES:
        for exchange, key in queue.bindings:
            sources = {FEEDS_OUT, node("x_", exchange)} if exchange == t.FEEDS_EXCHANGE else {node("x_", exchange)}
            assert drawn(sources, node("q_", queue.name), key or "(all)"), (exchange, key, queue.name)


def test_the_processor_publishes_downward_to_the_second_drawing_of_the_feeds_exchange():
    assert "rankdir=TB" in DOT and "constraint=false" not in DOT
    outputs = [(src, dst) for src, dst, _ in EDGES if src == node("c_", "market-processor")]
    assert outputs and all(dst == FEEDS_OUT for _, dst in outputs)
    assert min(int(s) for s in re.findall(r"fontsize=(\d+)", DOT)) >= 9


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (apt-get install graphviz)")
def test_graphviz_renders_it():
    done = subprocess.run(["dot", "-Tsvg"], input=DOT.encode(), capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    assert b"<svg" in done.stdout
