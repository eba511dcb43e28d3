"""The deployment diagram shows what the manifests create, and Graphviz can draw it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kafkalab.deploy.diagram import DATA_FLOW, deployment_dot
from kafkalab.transports.kafka.topics import TOPICS

from .k8s_render import ROOT, find


def test_diagram_has_every_workload_topic_and_volume(rendered):
    dot = deployment_dot(ROOT)
    documents = rendered["local"]
    workloads = find(documents, "Deployment") + find(documents, "StatefulSet")
    for workload in workloads:
        assert f'"{workload["metadata"]["name"]}" [label=' in dot
    components = {w["metadata"]["name"] for w in workloads if w["metadata"]["labels"]["app.kubernetes.io/component"] != "jupyter"}
    assert set(DATA_FLOW) == components, "every component's reads and writes belong in DATA_FLOW"
    (scaler,) = find(documents, "ScaledObject")
    assert set(DATA_FLOW["processor-market"][0]) == {t["metadata"]["topic"] for t in scaler["spec"]["triggers"]}
    for spec in TOPICS:
        assert f'"topic:{spec.name}" [shape=cylinder, label="{spec.name}\\n{spec.partitions} partition' in dot
    for claim in find(documents, "PersistentVolumeClaim"):
        assert f'"pvc:{claim["metadata"]["name"]}"' in dot
    assert f'1..{scaler["spec"]["maxReplicaCount"]} (KEDA, lag)' in dot
    assert '"topic:trades" -> "processor-market"' in dot and '"processor-market" -> "topic:candles"' in dot


def test_graphviz_draws_the_diagram():
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz `dot` is not installed (.ci/run installs it)")
    done = subprocess.run([dot, "-Tsvg"], input=deployment_dot(ROOT), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr
    assert "Warning" not in done.stderr, done.stderr
