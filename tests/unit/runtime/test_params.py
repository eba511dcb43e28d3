"""ComponentParams: notebook / CLI values parsed once into typed, transport-free parameters."""

import pytest

from kafkalab.errors import ConfigError
from kafkalab.runtime.params import COMPONENTS, ComponentParams


def test_empty_values_mean_not_given():
    params = ComponentParams.from_parameters(rate_hz="", symbols="", seed=None, streams="", max_seconds="")
    assert params == ComponentParams()
    assert params.rate_hz is None and params.symbols == () and params.seed == 7


def test_notebook_strings_become_typed_values():
    params = ComponentParams.from_parameters(
        rate_hz="max", symbols=" AAPL, TSLA ,", seed="11", max_seconds="2.5", max_messages="40",
        streams="trades=t-1, candles=c-1", producer_settings="linger.ms=0,compression.type=zstd",
        profile="True", instance=3, group_id="g")
    assert params.rate_hz == 0.0  # as fast as possible
    assert params.symbols == ("AAPL", "TSLA")
    assert (params.seed, params.max_seconds, params.max_messages) == (11, 2.5, 40)
    assert params.stream("trades") == "t-1" and params.stream("orderbooks") == "orderbooks"
    assert params.producer_settings == {"linger.ms": "0", "compression.type": "zstd"}
    assert params.profile is True and params.instance == "3" and params.group_id == "g"


def test_to_parameters_round_trips():
    params = ComponentParams(rate_hz=250.0, symbols=("AAPL",), streams={"trades": "x"},
                             producer_settings={"linger.ms": "5"}, max_seconds=3)
    assert ComponentParams.from_parameters(**params.to_parameters()) == params
    assert params.with_changes(seed=9) == ComponentParams(rate_hz=250.0, symbols=("AAPL",), streams={"trades": "x"},
                                                          producer_settings={"linger.ms": "5"}, max_seconds=3, seed=9)


@pytest.mark.parametrize("parameters, message", [
    ({"rate": 10}, r"^unknown component parameter\(s\) rate; known: "),
    ({"seed": "seven"}, r"^seed must be a number \(got 'seven'\)$"),
    ({"max_messages": 2.5}, r"^max_messages must be a whole number \(got 2.5\)$"),
    ({"max_seconds": -1}, r"^max_seconds and max_messages must be 0 \(unbounded\) or positive"),
    ({"rate_hz": "fast"}, r"^rate_hz must be a number \(got 'fast'\)$"),
    ({"streams": "trades"}, r"^streams must be comma-separated stream=name pairs"),
    ({"profile": "maybe"}, r"^profile must be True or False \(got 'maybe'\)$"),
])
def test_bad_values_are_one_line(parameters, message):
    with pytest.raises(ConfigError, match=message) as err:
        ComponentParams.from_parameters(**parameters)
    assert "\n" not in str(err.value)


def test_the_five_component_names():
    assert COMPONENTS == ("trade-generator", "orderbook-generator", "market-processor", "trades-sink", "candles-sink")


def test_the_processor_engine_is_python_unless_streams_is_asked_and_a_bad_name_is_one_line():
    from kafkalab.runtime.params import ComponentParams

    assert ComponentParams().engine == "python"
    assert ComponentParams.from_parameters(engine=" Streams ").engine == "streams"
    with pytest.raises(ConfigError, match="engine must be one of python, streams") as err:
        ComponentParams.from_parameters(engine="flink")
    assert "\n" not in str(err.value)


def test_run_refuses_an_unknown_processor_and_streams_off_kafka_before_starting_anything(tmp_path):
    from kafkalab import config as lab_config
    from kafkalab.pipeline.launcher import PipelineError
    from kafkalab.pipeline.runner import run_pipeline

    cfg = lab_config.load(results_dir=str(tmp_path))
    with pytest.raises(PipelineError, match="--processor must be one of python, streams"):
        run_pipeline(cfg, seconds=1, processor="flink")
    with pytest.raises(PipelineError, match="kafka transport only"):
        run_pipeline(cfg.with_overrides(transport="zeromq"), seconds=1, processor="streams")
