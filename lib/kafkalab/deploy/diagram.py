"""The Kafka path's deployment as a Graphviz DOT diagram, drawn from the generated manifests.

Boxes are what `kubectl apply -k k8s/overlays/local` creates (workloads with their kind and
replica count, the Strimzi cluster and its topics, volumes, the JupyterLab Service); edges
are which stream each component writes or reads.
kafkalab.report.architecture.diagram_svg renders it like the component diagram.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kafkalab.core.streams import BOOK_FEATURES, CANDLES, DEAD_LETTERS, ORDERBOOKS, TRADES
from kafkalab.deploy import kafka, manifests, workloads

LOCAL_FILES = ("k8s/base/", "k8s/kafka/")
# What each compose component reads and writes (DESIGN.md's component table); a component
# missing here fails the diagram's test.
DATA_FLOW = {
    "generator-trades": ((), (TRADES,)),
    "generator-orderbook": ((), (ORDERBOOKS,)),
    "processor-market": (kafka.PROCESSOR_INPUTS, (CANDLES, BOOK_FEATURES, DEAD_LETTERS)),
    "sink-trades-csv": ((TRADES,), (DEAD_LETTERS,)),
    "sink-candles-csv": ((CANDLES, BOOK_FEATURES), (DEAD_LETTERS,)),
}


def _documents(root: Path) -> list[dict]:
    tree = manifests.generate(root)
    texts = [text for path, text in tree.items() if path.startswith(LOCAL_FILES) and "kustomization" not in path]
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _replicas(workload: dict, scaler: dict | None) -> str:
    if scaler is not None:
        return f"{scaler['spec']['minReplicaCount']}..{scaler['spec']['maxReplicaCount']} (KEDA, lag)"
    return f"x{workload['spec'].get('replicas', 1)}"


def _edges(name: str) -> list[str]:
    reads, writes = DATA_FLOW[name]
    return ([f'"topic:{s}" -> "{name}" [label="reads"];' for s in reads]
            + [f'"{name}" -> "topic:{s}" [style=dashed];' if s == DEAD_LETTERS else f'"{name}" -> "topic:{s}";'
               for s in writes])


def deployment_dot(root: Path) -> str:
    documents = _documents(root)
    scalers = {d["spec"]["scaleTargetRef"]["name"]: d for d in documents if d["kind"] == "ScaledObject"}
    topics = [d for d in documents if d["kind"] == "KafkaTopic"]
    pool = next(d for d in documents if d["kind"] == "KafkaNodePool")
    lines = ["digraph deployment {", "rankdir=LR; compound=true; node [shape=box, fontname=Helvetica, fontsize=10];",
             f'subgraph cluster_ns {{ label="namespace {workloads.NAMESPACE}";',
             f'subgraph cluster_kafka {{ label="Strimzi Kafka {kafka.CLUSTER}: {pool["spec"]["replicas"]} '
             f'KRaft broker+controller nodes ({pool["metadata"]["name"]})"; style=rounded;']
    lines += [f'"topic:{t["spec"]["topicName"]}" [shape=cylinder, label="{t["spec"]["topicName"]}\\n'
              f'{_count(t["spec"]["partitions"], "partition")}, RF {t["spec"]["replicas"]}"];' for t in topics]
    lines.append("}")
    claims = {d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"}
    for workload in (d for d in documents if d["kind"] in ("Deployment", "StatefulSet")):
        name, kind = workload["metadata"]["name"], workload["metadata"]["labels"]["app.kubernetes.io/component"]
        lines.append(f'"{name}" [label="{name}\\n{workload["kind"]} {_replicas(workload, scalers.get(name))}"];')
        if kind == workloads.JUPYTER:
            lines.append(f'"svc:{name}" [shape=oval, label="Service {name} (ClusterIP)"]; "svc:{name}" -> "{name}";')
            continue
        lines += _edges(name)
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim in claims:
                lines.append(f'"pvc:{claim}" [shape=folder, label="PVC {claim}"]; "{name}" -> "pvc:{claim}";')
    lines += ["}", '"KEDA" [shape=component]; "Strimzi operator" [shape=component];']
    lines += [f'"KEDA" -> "{target}" [style=dotted, label="scales"];' for target in scalers]
    lines += [f'"Strimzi operator" -> "topic:{topics[0]["spec"]["topicName"]}" [style=dotted, label="runs", '
              f'lhead=cluster_kafka];', "}"]
    return "\n".join(lines) + "\n"
