"""The k8s/ overlays rendered once per session (see k8s_render)."""

from __future__ import annotations

import pytest

from .k8s_render import K8S, OVERLAYS, build, kustomize_command


@pytest.fixture(scope="session")
def kustomize() -> list[str]:
    return kustomize_command()


@pytest.fixture(scope="session")
def rendered(kustomize) -> dict[str, list[dict]]:
    """{overlay: its documents}, as `kubectl apply -k k8s/overlays/<overlay>` would send them."""
    return {overlay: build(kustomize, K8S / "overlays" / overlay) for overlay in OVERLAYS}


