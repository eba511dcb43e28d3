"""Endpoints declared once (and overridden by one setting), and the wire envelope."""

import pytest

from kafkalab.core import serde
from kafkalab.core.models import Trade
from kafkalab.errors import ConfigError
from kafkalab.transports.zeromq.addresses import (DEFAULT_ENDPOINTS, ENV_ENDPOINTS, ENV_HWM, bind_address,
                                                  settings_from_env)
from kafkalab.transports.zeromq.sockets import BadEnvelope, meta_block, pack, unpack

TRADE = Trade("AAPL", 1, 190.0, 100.0, "buy", 1_764_000_000_000_000, 1_764_000_000_000_100)


def test_defaults_are_loopback_and_one_setting_overrides_a_stream():
    assert settings_from_env({}).endpoints == DEFAULT_ENDPOINTS
    settings = settings_from_env({ENV_ENDPOINTS: "trades=tcp://generator-trades:5561", ENV_HWM: "500"})
    assert settings.connect_address("trades") == "tcp://generator-trades:5561"
    assert settings.connect_address("candles") == DEFAULT_ENDPOINTS["candles"]
    assert settings.hwm == 500


def test_a_service_name_is_bound_on_all_interfaces_an_ip_or_ipc_path_as_given():
    assert bind_address("tcp://generator-trades:5561") == "tcp://*:5561"
    assert bind_address("tcp://127.0.0.1:5561") == "tcp://127.0.0.1:5561"
    assert bind_address("ipc:///tmp/x/trades") == "ipc:///tmp/x/trades"


@pytest.mark.parametrize("env", [{ENV_ENDPOINTS: "quotes=tcp://h:1"}, {ENV_ENDPOINTS: "trades=http://h:1"},
                                 {ENV_ENDPOINTS: "trades=tcp://h"}, {ENV_HWM: "0"}, {ENV_HWM: "lots"}])
def test_bad_settings_are_one_line_config_errors(env):
    with pytest.raises(ConfigError) as err:
        settings_from_env(env)
    assert "\n" not in str(err.value)


def test_envelope_round_trip_keeps_stream_producer_sequence_and_headers():
    payload, headers = serde.encode(TRADE, "msgpack")
    envelope = unpack(pack("trades", 42, meta_block("trade-generator.0.17", headers), payload))
    assert (envelope.stream, envelope.producer, envelope.sequence) == ("trades", "trade-generator.0.17", 42)
    assert envelope.position == "trade-generator.0.17:42"
    assert serde.decode(envelope.payload, envelope.headers) == TRADE


SEQ_1 = (1).to_bytes(8, "big")


@pytest.mark.parametrize("frame", [b"", b"no stream name", b"trades\0short",
                                   b"trades\0" + SEQ_1 + b"\x00\x50" + b"meta too short",
                                   b"trades\0" + SEQ_1 + b"\x00\x02\xff\xfe" + b"x",
                                   pack("trades", 0, meta_block("p", [("k", b"v")]), b"x"),
                                   b"trades\0" + SEQ_1 + b"\x00\x0cp\nno-equals" + b"x"])
def test_foreign_frames_are_refused_with_a_reason(frame):
    with pytest.raises(BadEnvelope) as err:
        unpack(frame)
    assert str(err.value) and "\n" not in str(err.value)


def test_a_lab_config_hands_over_the_transport_variables_as_a_mapping_or_pairs():
    from types import SimpleNamespace

    from kafkalab.transports.zeromq.addresses import settings_of

    assert settings_of(SimpleNamespace()).endpoints == DEFAULT_ENDPOINTS  # config.py without them yet
    assert settings_of(SimpleNamespace(zeromq_env=((ENV_HWM, "7"),))).hwm == 7
    assert settings_of(SimpleNamespace(zeromq_env={ENV_ENDPOINTS: "candles=ipc:///tmp/c"})).connect_address(
        "candles") == "ipc:///tmp/c"
