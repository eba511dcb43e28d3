"""The transport registry: unknown or not-yet-installed transports are one line, never a traceback."""

import sys

import pytest

from kafkalab.errors import ConfigError
from kafkalab.pipeline import plan


def test_unknown_transport_is_refused():
    with pytest.raises(ConfigError, match=r"^transport must be one of kafka, rabbitmq, zeromq \(got 'mqtt'\)$"):
        plan.transport_plan("mqtt")


def test_unknown_component_is_refused(tmp_path):
    from kafkalab import config

    with pytest.raises(ConfigError, match=r"^component must be one of trade-generator, .* \(got 'sink'\)$"):
        plan.build_component("kafka", "sink", config.load({config.ENV_HOME: str(tmp_path)}), None)


def test_a_transport_whose_module_is_missing_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "kafkalab.transports.zeromq.plan", None)  # import fails as if absent
    with pytest.raises(ConfigError) as err:
        plan.transport_plan("zeromq")
    assert str(err.value).startswith("transport zeromq is not available in this checkout")


def test_a_transport_whose_client_library_is_missing_names_the_package(monkeypatch):
    def missing_pika(name):
        if name == "kafkalab.transports.rabbitmq.plan":
            raise ModuleNotFoundError("No module named 'pika'", name="pika")
        return real_import(name)

    real_import = plan.importlib.import_module
    monkeypatch.setattr(plan.importlib, "import_module", missing_pika)
    with pytest.raises(ConfigError, match=r"^transport rabbitmq needs the Python package 'pika'"):
        plan.transport_plan("rabbitmq")
