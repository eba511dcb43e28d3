"""docker-compose.zeromq.yml, checked without a Docker engine: no broker, the five
components addressing each other by service name, in step with the package and with
docker-compose.yml (same image, same stop wrapper, same notebooks)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from kafkalab import config as lab_config
from kafkalab.transports.zeromq import addresses
from kafkalab.transports.zeromq.addresses import ENV_ENDPOINTS, settings_from_env

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.zeromq.yml"
KAFKA_COMPOSE = ROOT / "docker-compose.yml"
COMPONENTS = {"generator-trades": "generator_trades", "generator-orderbook": "generator_orderbook",
              "processor-market": "processor_market", "sink-trades-csv": "sink_trades_csv",
              "sink-candles-csv": "sink_candles_csv"}
PRODUCER_OF = {"trades": "generator-trades", "orderbooks": "generator-orderbook",
               "candles": "processor-market", "book-features": "processor-market"}
# KAFKALAB_TRANSPORT is read by config.py once helper "pipeline" lands it (the contract's name).
KNOWN_ENV = {*lab_config.ENV_VARS, *addresses.ENV_VARS, "KAFKALAB_TRANSPORT"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in service["environment"].items()}


def test_no_broker_only_the_five_components(compose):
    assert set(compose["services"]) == set(COMPONENTS)
    images = {s.get("image", "") for s in compose["services"].values()}
    assert images == {"kafkalab-lab:0.1.0"}
    for service in compose["services"].values():
        assert not set(service.get("depends_on", {})) - set(COMPONENTS)
        assert "KAFKA_BOOTSTRAP_SERVERS" not in service["environment"]


def test_components_find_each_other_by_service_name(compose):
    for name, service in compose["services"].items():
        env = _env(service)
        assert env["KAFKALAB_TRANSPORT"] == "zeromq"
        settings = settings_from_env({ENV_ENDPOINTS: env[ENV_ENDPOINTS]})
        for stream, producer in PRODUCER_OF.items():
            url = urlsplit(settings.connect_address(stream))
            assert (url.scheme, url.hostname) == ("tcp", producer), stream
            assert settings.bind_address(stream) == f"tcp://*:{url.port}"
            if name == producer:
                assert str(url.port) in service["expose"], (name, stream)
    ports = [urlsplit(a).port for a in settings.endpoints.values()]
    assert len(set(ports)) == len(ports)


def test_only_variables_the_package_reads_and_nothing_published_on_the_host(compose):
    for service in compose["services"].values():
        assert set(service["environment"]) <= KNOWN_ENV
        assert "ports" not in service


def test_each_component_runs_its_notebook_with_transport_zeromq_and_the_stop_file(compose):
    for name, stem in COMPONENTS.items():
        command = compose["services"][name]["command"]
        assert command[3:5] == [f"notebooks/{stem}.ipynb", f"results/runs/{stem}.ipynb"]
        assert (ROOT / "notebooks" / f"{stem}.ipynb").exists()
        pairs = {command[i + 1]: command[i + 2] for i, part in enumerate(command) if part in ("-p", "-r")}
        assert pairs == {"transport": "zeromq", "stop_file": "/tmp/kafkalab-component.stop"}


def test_consumers_start_before_the_producers_they_read(compose):
    services = compose["services"]
    assert set(services["generator-trades"]["depends_on"]) == {"processor-market", "sink-trades-csv"}
    assert set(services["generator-orderbook"]["depends_on"]) == {"processor-market"}
    assert set(services["processor-market"]["depends_on"]) == {"sink-candles-csv"}


def test_same_image_and_stop_wrapper_as_the_kafka_compose_file(compose):
    kafka = yaml.safe_load(KAFKA_COMPOSE.read_text())
    ours, theirs = compose["services"]["processor-market"], kafka["services"]["processor-market"]
    assert ours["entrypoint"] == theirs["entrypoint"]
    assert ours["build"] == theirs["build"] and ours["image"] == theirs["image"]
    assert ours["stop_grace_period"] == theirs["stop_grace_period"]
