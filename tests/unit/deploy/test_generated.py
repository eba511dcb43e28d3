"""k8s/ is what the code generates: a change to the topics, the settings or the compose file
without `kafkalab k8s generate` fails here."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from kafkalab.deploy import manifests
from kafkalab.deploy.cli import ManifestsOutOfDate, add_k8s_commands
from kafkalab.deploy.sources import load
from kafkalab.errors import ConfigError
from .k8s_render import ROOT


def _copy_of_sources(tmp_path: Path) -> Path:
    """The files the generator reads, plus the committed k8s/, in a scratch checkout."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    return tmp_path


def _run_cli(monkeypatch, root: Path, *argv: str) -> int:
    monkeypatch.setenv("KAFKALAB_HOME", str(root))
    parser = argparse.ArgumentParser()
    add_k8s_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["k8s", "generate", *argv])
    return args.func(args)


def test_committed_manifests_are_what_the_code_generates():
    stale = manifests.differences(ROOT)
    assert not stale, f"k8s/ is out of date, run `kafkalab k8s generate`: {stale}"


def test_check_reports_an_edited_a_missing_and_a_left_over_file(tmp_path, monkeypatch, capsys):
    root = _copy_of_sources(tmp_path)
    assert _run_cli(monkeypatch, root, "--check") == 0
    topics = root / "k8s" / "kafka" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: 7", 1))
    (root / "k8s" / "base" / "jupyter.yaml").unlink()
    (root / "k8s" / "base" / "extra.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(ManifestsOutOfDate) as failure:
        _run_cli(monkeypatch, root, "--check")
    message = str(failure.value)
    assert "\n" not in message
    for expected in ("k8s/kafka/topics.yaml: differs", "k8s/base/jupyter.yaml: missing",
                     "k8s/base/extra.yaml: not generated"):
        assert expected in message
    # generate repairs what it owns and leaves the hand-written schemas alone
    (root / "k8s" / "base" / "extra.yaml").unlink()
    capsys.readouterr()
    assert _run_cli(monkeypatch, root) == 0
    assert "wrote k8s/kafka/topics.yaml" in capsys.readouterr().out
    assert manifests.differences(root) == []
    assert (root / "k8s" / "schemas").is_dir() and (root / "k8s" / "README.md").exists()


def test_a_compose_change_changes_the_manifests(tmp_path):
    root = _copy_of_sources(tmp_path)
    compose = root / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("KAFKA_MIN_INSYNC_REPLICAS: 2", "KAFKA_MIN_INSYNC_REPLICAS: 1"))
    assert manifests.differences(root) == ["k8s/kafka/kafka-cluster.yaml: differs"]


def test_a_compose_file_without_components_is_one_clear_error(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  broker-1:\n    image: apache/kafka:4.3.1\n")
    with pytest.raises(ConfigError, match="no service runs a notebook with papermill"):
        load(tmp_path)
    (tmp_path / "docker-compose.yml").write_text("services: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read the services of"):
        load(tmp_path)
