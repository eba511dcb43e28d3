"""The sinks' CSV over ZeroMQ (torn-line repair, positions read back) and the plan."""

from __future__ import annotations

import pytest

from kafkalab import config as lab_config
from kafkalab.core.models import Trade
from kafkalab.core.csvstore import TRADES_COLUMNS, CsvFileError
from kafkalab.transports.zeromq.csvfiles import PositionedCsv, split_position
from kafkalab.transports.zeromq.plan import PLAN

TRADE = Trade("AAPL", 1, 190.0, 100.0, "buy", 1_764_000_000_000_000, 1_764_000_000_000_100)


def test_positions_are_read_back_per_producer_and_a_torn_line_is_cut(tmp_path):
    path = tmp_path / "trades.csv"
    csv_file = PositionedCsv(path, TRADES_COLUMNS)
    csv_file.write([csv_file.row(TRADE, 1, f"gen.0.1:{seq}") for seq in (1, 2, 3)]
                   + [csv_file.row(TRADE, 1, "gen.0.2:7")])
    csv_file.close()
    with path.open("ab") as f:
        f.write(b"AAPL,9,190.0,1")  # a write cut by kill -9
    again = PositionedCsv(path, TRADES_COLUMNS)
    again.close()
    assert again.last == {"gen.0.1": 3, "gen.0.2": 7}
    assert path.read_bytes().endswith(b"\n") and path.read_text().count("\n") == 5


def test_rows_of_another_transport_do_not_count_as_positions(tmp_path):
    path = tmp_path / "trades.csv"
    csv_file = PositionedCsv(path, TRADES_COLUMNS)
    row = list(csv_file.row(TRADE, 1, "3:120"))
    row[-2] = "kafka"
    csv_file.write([row])
    csv_file.close()
    assert PositionedCsv(path, TRADES_COLUMNS).last == {}


def test_a_file_with_other_columns_is_refused_in_one_line(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CsvFileError) as err:
        PositionedCsv(path, TRADES_COLUMNS)
    assert "move the file away" in str(err.value) and "\n" not in str(err.value)


def test_a_zeromq_row_with_a_foreign_position_is_refused_in_one_line(tmp_path):
    path = tmp_path / "trades.csv"
    csv_file = PositionedCsv(path, TRADES_COLUMNS)
    csv_file.write([csv_file.row(TRADE, 1, "no-sequence-here")])
    csv_file.close()
    with pytest.raises(CsvFileError) as err:
        PositionedCsv(path, TRADES_COLUMNS)
    assert "line 2" in str(err.value) and "\n" not in str(err.value)
    assert split_position("trade-generator.0.17:42") == ("trade-generator.0.17", 42)


def test_a_text_field_with_a_line_break_is_refused(tmp_path):
    csv_file = PositionedCsv(tmp_path / "t.csv", TRADES_COLUMNS)
    bad = Trade.__new__(Trade)
    for name, value in zip(Trade.field_names(), ("AA\nPL", 1, 1.0, 1.0, "buy", 1, 1)):
        object.__setattr__(bad, name, value)
    with pytest.raises(ValueError):
        csv_file.row(bad, 1, "p:1")
    csv_file.close()


def test_plan_has_no_broker_and_no_backlog():
    config = lab_config.load()
    messages = []
    with PLAN.broker(config, messages.append):
        pass
    assert PLAN.transport == "zeromq" and "no broker" in messages[0]
    PLAN.prepare(config)
    assert PLAN.backlog(config, "trades-sink") is None


def test_build_makes_each_component_from_the_typed_parameters(tmp_path):
    from kafkalab.errors import ConfigError
    from kafkalab.pipeline.plan import build_component, transport_plan
    from kafkalab.runtime.params import COMPONENTS, ComponentParams

    config = lab_config.load(results_dir=str(tmp_path))
    params = ComponentParams.from_parameters(rate_hz="250", symbols="AAPL,KO", instance="2", idle_timeout_ms="900")
    built = {name: build_component("zeromq", name, config, params) for name in COMPONENTS}
    assert {name: c.name for name, c in built.items()} == {name: name for name in COMPONENTS}
    assert built["trade-generator"].rate_hz == 250 and built["trade-generator"].sim.symbols == ("AAPL", "KO")
    assert built["market-processor"].spec.idle_timeout_us == 900_000 and built["market-processor"].instance == "2"
    assert transport_plan("zeromq") is PLAN
    with pytest.raises(ConfigError):
        from kafkalab.transports.zeromq.components import build
        build("sink", config, params)
