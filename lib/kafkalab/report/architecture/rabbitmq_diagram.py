"""The RabbitMQ topology as Graphviz DOT, drawn from the declarations in
kafkalab.transports.rabbitmq.topology (exchanges, exchange bindings, quorum queues and which
consumer reads which queue), top to bottom in the order the data flows.

The feeds exchange appears twice, once where the raw feeds enter and once where the processor
publishes its results: it is one exchange, but drawn once the processor's output would loop back
across the picture. Dead letters are named in a label rather than drawn as three crossing edges.
"""

from __future__ import annotations

import re

from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES
from kafkalab.transports.rabbitmq import topology as t

PRODUCERS = {"trade-generator": (TRADES,), "orderbook-generator": (ORDERBOOKS,)}
PROCESSOR = "market-processor"
PROCESSOR_OUTPUTS = (CANDLES, BOOK_FEATURES)
FEEDS_OUT = "feeds_out"  # the second drawing of the feeds exchange


def _id(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _exchange(node: str, spec: t.ExchangeSpec, note: str = "") -> str:
    args = "".join(f"\\n{k}={v}" for k, v in spec.arguments.items())
    return (f'  {node} [shape=box, style="filled,diagonals", fillcolor="#dae8fc", '
            f'label="{spec.name}\\n({spec.type}){args}{note}"];')


def _queue(spec: t.QueueSpec) -> str:
    args = spec.arguments()
    extra = "\\nsingle active consumer" if spec.single_active_consumer else ""
    return (f'  q_{_id(spec.name)} [shape=box, style="rounded,filled", fillcolor="#ffffff", '
            f'label="{spec.name}\\n{args["x-queue-type"]}, {args["x-quorum-initial-group-size"]} members{extra}"];')


def _component(name: str) -> str:
    return f'  c_{_id(name)} [shape=component, style=filled, fillcolor="#fff2cc", label="{name}"];'


def _binding_edges(spec: t.QueueSpec, exchanges: dict[str, str]) -> list[str]:
    by_exchange: dict[str, list[str]] = {}
    for exchange, key in spec.bindings:
        by_exchange.setdefault(exchange, []).append(key or "(all)")
    return [f'  {exchanges[ex]} -> q_{_id(spec.name)} [label="{", ".join(keys)}"];' for ex, keys in by_exchange.items()]


def topology_dot() -> str:
    specs = {e.name: e for e in t.EXCHANGES}
    exchanges = {name: f"x_{_id(name)}" for name in specs}
    processor_queues = t.CONSUMER_QUEUES[PROCESSOR]
    lines = ["digraph rabbitmq {",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.45, labelloc=t, '
             'label="RabbitMQ: 3 clustered nodes; every queue a quorum queue with a member on each node"];',
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    lines += [_component(name) for name in PRODUCERS]
    lines += [_exchange(node, specs[name]) for name, node in exchanges.items() if name != t.DEAD_LETTER_EXCHANGE]
    lines.append(_exchange(FEEDS_OUT, specs[t.FEEDS_EXCHANGE], "\\n(the same exchange, again)"))
    writers = ", ".join((PROCESSOR, *(c for c in t.CONSUMER_QUEUES if c != PROCESSOR)))
    lines.append(_exchange(exchanges[t.DEAD_LETTER_EXCHANGE], specs[t.DEAD_LETTER_EXCHANGE],
                           f"\\nfrom {writers}:\\nundecodable or invalid (reason in {t.REASON_HEADER}),\\n"
                           f"or redelivered {t.DELIVERY_LIMIT} times"))
    lines += [_queue(q) for q in t.QUEUES]
    lines += [_component(name) for name in t.CONSUMER_QUEUES]
    for name, streams in PRODUCERS.items():
        lines += [f'  c_{_id(name)} -> {exchanges[t.FEEDS_EXCHANGE]} [label="{s}.<symbol>"];' for s in streams]
    lines += [f'  {exchanges[src]} -> {exchanges[dst]} [label="{key}", style=bold];'
              for src, dst, key in t.EXCHANGE_BINDINGS]
    for queue in t.QUEUES:
        # the processor's results are routed by the second drawing of the feeds exchange
        derived = any(key.split(".")[0] in PROCESSOR_OUTPUTS for _, key in queue.bindings)
        lines += _binding_edges(queue, {**exchanges, t.FEEDS_EXCHANGE: FEEDS_OUT} if derived else exchanges)
    for consumer, queues in t.CONSUMER_QUEUES.items():
        lines += [f'  q_{_id(q)} -> c_{_id(consumer)} [label="push, ack", color="#548235"];' for q in queues]
    lines += [f'  c_{_id(PROCESSOR)} -> {FEEDS_OUT} [label="{s}.<symbol>\\nconfirmed"];' for s in PROCESSOR_OUTPUTS]
    lines += ["  { rank=same; " + " ".join(f"q_{_id(q)};" for q in processor_queues) + " }",
              f"  {{ rank=sink; q_{_id(t.DEAD_LETTER_QUEUE)}; }}", "}"]
    return "\n".join(lines)
