"""Rendering k8s/ with kustomize and reading the documents: the deploy tests' helpers.

No cluster runs here: the overlays are rendered by kustomize (the one inside kubectl, or
kustomize itself built from the Go module proxy into .cache/ when kubectl is absent) and
read as documents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
OVERLAYS = ("local", "rabbitmq")
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.5.0"  # the version inside kubectl 1.32


def kustomize_command() -> list[str]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build"]
    go = shutil.which("go")
    if go is None:
        pytest.skip("neither kubectl, kustomize nor a Go toolchain to build kustomize")
    bin_dir = ROOT / ".cache" / "kustomize" / KUSTOMIZE_VERSION
    binary = bin_dir / "kustomize"
    if not binary.exists():
        done = subprocess.run([go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"], capture_output=True,
                              text=True, timeout=900, env={**os.environ, "GOBIN": str(bin_dir)})
        assert done.returncode == 0, f"building kustomize failed: {done.stderr.strip()[-500:]}"
    return [str(binary), "build"]


def build(kustomize: list[str], directory: Path) -> list[dict]:
    done = subprocess.run([*kustomize, str(directory)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"kustomize cannot build {directory}: {done.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(documents: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def container(workload: dict) -> dict:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only
