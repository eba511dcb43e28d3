"""The Kafka path's deployment as a Graphviz DOT diagram, drawn from the generated manifests.

Boxes are what `kubectl apply -k k8s/overlays/local` creates (workloads with their kind and
replica count, the Strimzi cluster and its topics, volumes, the JupyterLab Service); edges
are which stream each component writes or reads, from its notebook's `*_topic` parameters.
kafkalab.report.architecture.diagram_svg renders it like the component diagram.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kafkalab.core.streams import DEAD_LETTERS
from kafkalab.deploy import kafka, manifests, workloads
from kafkalab.deploy.sources import notebook_defaults

LOCAL_FILES = ("k8s/base/", "k8s/kafka/")


def _documents(root: Path) -> list[dict]:
    tree = manifests.generate(root)
    texts = [text for path, text in tree.items() if path.startswith(LOCAL_FILES) and "kustomization" not in path]
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]


def _streams(root: Path, args: list[str]) -> set[str]:
    """The streams a component's notebook names in its `<stream>_topic` parameters."""
    defaults = notebook_defaults(root / args[3])
    return {name.removesuffix("_topic").replace("_", "-") for name in defaults if name.endswith("_topic")}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _replicas(workload: dict, scaler: dict | None) -> str:
    if scaler is not None:
        return f"{scaler['spec']['minReplicaCount']}..{scaler['spec']['maxReplicaCount']} (KEDA, lag)"
    return f"x{workload['spec'].get('replicas', 1)}"


def _edges(root: Path, name: str, kind: str, args: list[str]) -> list[str]:
    streams = _streams(root, args)
    if kind == "generator":
        return [f'"{name}" -> "topic:{s}" [label="writes"];' for s in sorted(streams)]
    reads = set(kafka.PROCESSOR_INPUTS) if kind == "processor" else streams - {DEAD_LETTERS}
    writes = (streams - reads) if kind == "processor" else {DEAD_LETTERS}
    return ([f'"topic:{s}" -> "{name}" [label="reads"];' for s in sorted(reads)]
            + [f'"{name}" -> "topic:{s}" [style=dashed];' if s == DEAD_LETTERS else f'"{name}" -> "topic:{s}";'
               for s in sorted(writes)])


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
        lines += _edges(root, name, kind, workload["spec"]["template"]["spec"]["containers"][0]["args"])
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim in claims:
                lines.append(f'"pvc:{claim}" [shape=folder, label="PVC {claim}"]; "{name}" -> "pvc:{claim}";')
    lines += ["}", '"KEDA" [shape=component]; "Strimzi operator" [shape=component];']
    lines += [f'"KEDA" -> "{target}" [style=dotted, label="scales"];' for target in scalers]
    lines += [f'"Strimzi operator" -> "topic:{topics[0]["spec"]["topicName"]}" [style=dotted, label="runs", '
              f'lhead=cluster_kafka];', "}"]
    return "\n".join(lines) + "\n"
