"""The Kafka sink's own resume state, without a broker: positions "partition:offset" read back from its CSV."""

from __future__ import annotations

import pytest

from kafkalab.core.csvstore import TRADES_COLUMNS, CsvAppender, CsvFileError, record_row
from kafkalab.core.models import Trade
from kafkalab.transports.kafka.sink import ResumeFilter
from kafkalab.transports.kafka.topics import TRANSPORT, parse_position, position

T0 = 1_700_000_000_000_000


def trade(n: int) -> Trade:
    return Trade("BTC", n, 100.25, 0.5, "buy", T0 + n, T0 + n + 7)


def test_positions_round_trip_and_refuse_anything_else():
    assert TRANSPORT == "kafka"
    assert position(2, 77) == "2:77" and parse_position("2:77") == (2, 77)
    for bad in ("", "2", "2:", "a:1", "1:2:3", "p1:5"):
        with pytest.raises(ValueError):
            parse_position(bad)


def test_resume_filter_skips_at_or_below_and_tracks_new_offsets():
    resume = ResumeFilter({0: 10})
    assert not resume.accept(0, 9) and not resume.accept(0, 10)
    assert resume.accept(0, 11) and resume.accept(1, 0)
    resume.note(1, 4)
    resume.note(1, 2)  # never goes backwards
    assert resume.next_offset(1) == 5 and resume.next_offset(0) == 11 and resume.next_offset(2) is None
    assert not resume.accept(1, 4)


def test_resume_filter_reads_the_highest_offset_per_partition_of_its_own_rows(tmp_path):
    path = tmp_path / "trades.csv"
    assert ResumeFilter.from_csv(path).last == {}
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([record_row(trade(1), TRADES_COLUMNS, T0, "kafka", "0:5"),
                    record_row(trade(2), TRADES_COLUMNS, T0, "kafka", "2:9"),
                    record_row(trade(3), TRADES_COLUMNS, T0, "kafka", "0:6"),
                    record_row(trade(4), TRADES_COLUMNS, T0, "zeromq", "p1:99")])  # not Kafka's: ignored
    assert ResumeFilter.from_csv(path).last == {0: 6, 2: 9}
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([record_row(trade(5), TRADES_COLUMNS, T0, "kafka", "0:x")])
    with pytest.raises(CsvFileError, match=r"line 6 is not a sink row"):
        ResumeFilter.from_csv(path)
