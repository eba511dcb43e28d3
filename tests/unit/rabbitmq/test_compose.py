"""docker-compose.rabbitmq.yml checked statically against the package (no Docker engine here)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from kafkalab import config as lab_config
from kafkalab.transports.rabbitmq import settings
from kafkalab.transports.rabbitmq.cli import add_rabbitmq_commands
from kafkalab.transports.rabbitmq.cluster import PLUGINS

ROOT = Path(__file__).resolve().parents[3]
COMPONENT_SERVICES = ("generator-trades", "generator-orderbook", "processor-market", "sink-trades-csv",
                      "sink-candles-csv")


@pytest.fixture(scope="module")
def override() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.rabbitmq.yml").read_text())


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_three_pinned_clustered_nodes(override):
    nodes = [s for s in override["services"] if s.startswith("rabbitmq-") and s[-1].isdigit()]
    assert nodes == ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
    conf = override["configs"]["rabbitmq-conf"]["content"]
    for name in nodes:
        service = override["services"][name]
        assert service["image"] == "rabbitmq:3.10-management"  # the local cluster's 3.10
        assert f"rabbit@{service['hostname']}" in conf
    plugins = override["configs"]["rabbitmq-plugins"]["content"]
    assert all(p in plugins for p in PLUGINS)


def test_every_published_port_is_on_loopback(override):
    for name, service in override["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_never_guest_and_no_password_in_the_file(override):
    env = override["x-rabbitmq-node"]["environment"]
    assert env["RABBITMQ_DEFAULT_USER"] == settings.LAB_USER
    assert env["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD:?")
    assert "guest" not in (ROOT / "docker-compose.rabbitmq.yml").read_text().replace("no guest", "")


def test_components_switch_to_rabbitmq_and_exist_in_the_base_file(override, base):
    for name in COMPONENT_SERVICES:
        assert name in base["services"], name
        env = override["services"][name]["environment"]
        assert env["KAFKALAB_TRANSPORT"] == "rabbitmq"
        assert env["KAFKALAB_RABBITMQ_URL"].count("amqp://") == 3
        settings.parse_urls(env["KAFKALAB_RABBITMQ_URL"].replace("${RABBITMQ_PASSWORD}", "x"))
        assert "rabbitmq-topology" in override["services"][name]["depends_on"]


def test_environment_names_are_the_package_s(override):
    known = set(lab_config.ENV_VARS) | set(settings.ENV_VARS)
    for name in COMPONENT_SERVICES + ("rabbitmq-topology",):
        assert set(override["services"][name]["environment"]) <= known


def test_the_topology_job_runs_a_real_command(override):
    command = override["services"]["rabbitmq-topology"]["command"]
    assert command[:3] == ["python", "-m", "kafkalab.transports.rabbitmq.cli"]
    parser = argparse.ArgumentParser()
    add_rabbitmq_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rabbitmq", *command[3:]])
    assert args.action == "declare" and args.wait == 120
