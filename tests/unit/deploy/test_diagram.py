"""The deployment diagram shows what the manifests create, and Graphviz can draw it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kafkalab.deploy.diagram import deployment_dot
from kafkalab.transports.kafka.topics import TOPICS

from .k8s_render import ROOT, find


def test_diagram_has_every_workload_topic_and_volume(rendered):
    dot = deployment_dot(ROOT)
    documents = rendered["local"]
    for workload in find(documents, "Deployment") + find(documents, "StatefulSet"):
        assert f'"{workload["metadata"]["name"]}" [label=' in dot
    for spec in TOPICS:
        assert f'"topic:{spec.name}" [shape=cylinder, label="{spec.name}\\n{spec.partitions} partition' in dot
    for claim in find(documents, "PersistentVolumeClaim"):
        assert f'"pvc:{claim["metadata"]["name"]}"' in dot
    (scaler,) = find(documents, "ScaledObject")
    assert f'1..{scaler["spec"]["maxReplicaCount"]} (KEDA, lag)' in dot
    assert '"topic:trades" -> "processor-market"' in dot and '"processor-market" -> "topic:candles"' in dot


def test_graphviz_draws_the_diagram():
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz `dot` is not installed (.ci/run installs it)")
    done = subprocess.run([dot, "-Tsvg"], input=deployment_dot(ROOT), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr
    assert "Warning" not in done.stderr, done.stderr
