"""Configuration parsing and the one-line errors for bad settings (no broker needed)."""

from pathlib import Path

import pytest

from kafkalab import config as lab_config
from kafkalab.errors import ConfigError


def test_defaults_point_at_the_local_cluster(tmp_path):
    cfg = lab_config.load({lab_config.ENV_HOME: str(tmp_path)})
    assert cfg.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert cfg.cluster.kafka_version == lab_config.KAFKA_VERSION
    assert [cfg.cluster.controller_port(n) for n in cfg.cluster.node_ids] == [9093, 9095, 9097]
    assert cfg.results_dir == tmp_path / "results"
    assert cfg.data_dir == tmp_path / "results" / "data"
    assert cfg.serializer == lab_config.DEFAULT_SERIALIZER


def test_environment_is_read(tmp_path):
    env = {
        lab_config.ENV_BOOTSTRAP: " kafka-1:19092, kafka-2:19092 ",
        lab_config.ENV_SERIALIZER: "msgpack",
        lab_config.ENV_RESULTS_DIR: str(tmp_path / "out"),
        lab_config.ENV_BASE_PORT: "30092",
        lab_config.ENV_BROKER_HEAP_MB: "768",
        lab_config.ENV_BROKER_GC: " ZGC ",
    }
    cfg = lab_config.load(env)
    assert cfg.bootstrap_servers == "kafka-1:19092,kafka-2:19092"
    assert cfg.serializer == "msgpack"
    assert cfg.results_dir == tmp_path / "out"
    assert cfg.cluster.bootstrap_servers == "127.0.0.1:30092,127.0.0.1:30094,127.0.0.1:30096"
    assert cfg.cluster.heap_mb == 768
    assert cfg.cluster.broker_gc == "zgc"


def test_overrides_beat_the_environment_and_empty_means_not_given(tmp_path):
    env = {lab_config.ENV_SERIALIZER: "msgpack", lab_config.ENV_BOOTSTRAP: "a:1"}
    cfg = lab_config.load(env, serializer="avro", bootstrap_servers="", results_dir=str(tmp_path))
    assert cfg.serializer == "avro"
    assert cfg.bootstrap_servers == "a:1"
    assert cfg.results_dir == Path(tmp_path).resolve()


@pytest.mark.parametrize(
    "env, words",
    [
        ({lab_config.ENV_BOOTSTRAP: "localhost"}, ["KAFKA_BOOTSTRAP_SERVERS", "host:port", "'localhost'"]),
        ({lab_config.ENV_BOOTSTRAP: " , "}, ["KAFKA_BOOTSTRAP_SERVERS", "host:port"]),
        ({lab_config.ENV_BASE_PORT: "ninety"}, ["KAFKALAB_BASE_PORT", "whole number", "'ninety'"]),
        ({lab_config.ENV_BASE_PORT: "80"}, ["KAFKALAB_BASE_PORT", "1024", "(got 80)"]),
        ({lab_config.ENV_BROKER_HEAP_MB: "1e9"}, ["KAFKALAB_BROKER_HEAP_MB", "whole number"]),
        ({lab_config.ENV_START_TIMEOUT_S: "-3"}, ["KAFKALAB_START_TIMEOUT_S", "positive"]),
        ({lab_config.ENV_BROKER_GC: "cms"}, ["KAFKALAB_BROKER_GC", "g1, zgc", "'cms'"]),
    ],
)
def test_bad_settings_give_one_line_errors_naming_the_variable(env, words):
    with pytest.raises(ConfigError) as err:
        lab_config.load(env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_override_names_the_parameter():
    with pytest.raises(ConfigError, match="bootstrap_servers must be"):
        lab_config.load({}, bootstrap_servers="no-port-here")


def test_env_vars_list_is_complete():
    """Every KAFKALAB_/KAFKA_ name the config module reads is declared in ENV_VARS."""
    source = Path(lab_config.__file__).read_text()
    declared = set()
    for name in dir(lab_config):
        if name.startswith("ENV_") and name != "ENV_VARS":  # a name, or a transport's tuple of names
            value = getattr(lab_config, name)
            declared |= set(value) if isinstance(value, tuple) else {value}
    assert declared == set(lab_config.ENV_VARS)
    assert "os.environ" in source  # the one module that reads the environment


def test_serializer_is_chosen_per_topic_with_a_default():
    one = lab_config.load({lab_config.ENV_SERIALIZER: "avro"})
    assert one.serializer_for("trades") == one.serializer_for("candles") == "avro"
    mixed = lab_config.load({lab_config.ENV_SERIALIZER: "orderbooks=avro, candles=json, msgpack"})
    assert mixed.serializer_for("orderbooks") == "avro"
    assert mixed.serializer_for("candles") == "json"
    assert mixed.serializer_for("trades") == "msgpack"
    only_pairs = lab_config.load({lab_config.ENV_SERIALIZER: "orderbooks=avro"})
    assert only_pairs.serializer_for("trades") == lab_config.DEFAULT_SERIALIZER


def test_client_settings_parameter_is_name_value_pairs():
    parse = lab_config.parse_client_settings
    assert parse(" linger.ms=0 , compression.type = zstd,") == {"linger.ms": "0", "compression.type": "zstd"}
    assert parse("") == parse(None) == {}
    assert parse({"linger.ms": 0}) == {"linger.ms": 0}


@pytest.mark.parametrize("text", ["linger.ms", "linger.ms=", "=0", "linger.ms=0,acks"])
def test_bad_client_settings_give_one_line_error_naming_the_parameter(text):
    with pytest.raises(ConfigError) as err:
        lab_config.parse_client_settings(text)
    assert "\n" not in str(err.value)
    assert "producer_settings must be comma-separated name=value" in str(err.value)


def test_supervisor_is_read_and_a_bad_one_named():
    assert lab_config.supervisor({}) is None
    assert lab_config.supervisor({lab_config.ENV_SUPERVISOR: "123:1700000000.25"}) == (123, 1700000000.25)
    with pytest.raises(ConfigError, match="KAFKALAB_SUPERVISOR must be <pid>:<start time>"):
        lab_config.supervisor({lab_config.ENV_SUPERVISOR: "123"})


def test_transport_defaults_to_kafka_and_is_read_from_the_environment(tmp_path):
    assert lab_config.load({lab_config.ENV_HOME: str(tmp_path)}).transport == "kafka"
    env = {lab_config.ENV_HOME: str(tmp_path), lab_config.ENV_TRANSPORT: " RabbitMQ "}
    assert lab_config.load(env).transport == "rabbitmq"
    assert lab_config.load(env, transport="zeromq").transport == "zeromq"
    assert lab_config.load(env, transport="").transport == "rabbitmq"  # "" = not given


def test_unknown_transport_is_one_line_naming_the_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        lab_config.load({lab_config.ENV_HOME: str(tmp_path), lab_config.ENV_TRANSPORT: "mqtt"})
    assert str(err.value) == "KAFKALAB_TRANSPORT must be one of kafka, rabbitmq, zeromq (got 'mqtt')"
    with pytest.raises(ConfigError, match=r"^transport must be one of kafka, rabbitmq, zeromq \(got 'nats'\)$"):
        lab_config.load({lab_config.ENV_HOME: str(tmp_path)}, transport="nats")
