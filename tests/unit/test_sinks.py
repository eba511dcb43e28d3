"""Pure CSV logic of the sinks: partial lines, headers, resume offsets, row format."""

from __future__ import annotations

import csv
import os

import pytest

from kafkalab.core.models import Candle, Trade
from kafkalab.transports.kafka.sink import (
    BOOK_FEATURES_COLUMNS,
    CANDLES_COLUMNS,
    SINK_COLUMNS,
    TRADES_COLUMNS,
    CsvAppender,
    CsvFileError,
    ResumeFilter,
    claim_csv,
    format_rows,
    last_offsets,
    prepare_csv,
    record_row,
    require_writable_dir,
    source_path,
    truncate_partial_line,
)

T0 = 1_700_000_000_000_000


def trade(n: int, price: float = 100.25) -> Trade:
    return Trade("BTC", n, price, 0.5, "buy", T0 + n, T0 + n + 7)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_columns_are_message_fields_then_sink_columns():
    assert TRADES_COLUMNS[: len(Trade.field_names())] == Trade.field_names()
    assert CANDLES_COLUMNS[-3:] == BOOK_FEATURES_COLUMNS[-3:] == TRADES_COLUMNS[-3:] == SINK_COLUMNS
    for columns in (TRADES_COLUMNS, CANDLES_COLUMNS, BOOK_FEATURES_COLUMNS):
        assert {"event_ts_us", "produced_ts_us", "written_ts_us"} <= set(columns)
        assert len(set(columns)) == len(columns)


def test_truncate_partial_line_cuts_only_the_unfinished_tail(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,")
    assert truncate_partial_line(path) == 2
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert truncate_partial_line(path) == 0
    assert path.read_bytes() == b"a,b\n1,2\n"


def test_truncate_partial_line_without_any_newline_empties_the_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"symbol,tra")
    assert truncate_partial_line(path) == 10
    assert path.read_bytes() == b""
    assert truncate_partial_line(tmp_path / "missing.csv") == 0


def test_truncate_finds_a_newline_further_back_than_one_block(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"h\n" + b"x" * 200_000)
    assert truncate_partial_line(path) == 200_000
    assert path.read_bytes() == b"h\n"


def test_prepare_writes_the_header_once_and_reads_last_offsets(tmp_path):
    path = tmp_path / "trades.csv"
    assert prepare_csv(path, TRADES_COLUMNS) == {}
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([record_row(trade(1), TRADES_COLUMNS, T0, 0, 5),
                    record_row(trade(2), TRADES_COLUMNS, T0, 2, 9),
                    record_row(trade(3), TRADES_COLUMNS, T0, 0, 6)])
    assert prepare_csv(path, TRADES_COLUMNS) == {0: 6, 2: 9}
    assert path.read_text().count("symbol,") == 1
    assert len(rows(path)) == 3


def test_prepare_repairs_a_killed_write_and_keeps_complete_rows(tmp_path):
    path = tmp_path / "trades.csv"
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([record_row(trade(1), TRADES_COLUMNS, T0, 1, 0)])
    full_line = format_rows([record_row(trade(2), TRADES_COLUMNS, T0, 1, 1)])
    with path.open("ab") as f:
        f.write(full_line[: len(full_line) // 2])  # what a kill -9 mid-write leaves
    assert prepare_csv(path, TRADES_COLUMNS) == {1: 0}
    assert [r["trade_id"] for r in rows(path)] == ["1"]


def test_prepare_refuses_a_file_with_other_columns(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CsvFileError, match=r"trades.csv has columns a,b,c.*move the file away"):
        prepare_csv(path, TRADES_COLUMNS)


def test_last_offsets_names_a_corrupt_line(tmp_path):
    path = tmp_path / "trades.csv"
    prepare_csv(path, TRADES_COLUMNS)
    with path.open("a") as f:
        f.write("garbage\n")
    with pytest.raises(CsvFileError, match=r"line 2 is not a sink row"):
        last_offsets(path)


def test_resume_filter_skips_at_or_below_and_tracks_new_offsets():
    resume = ResumeFilter({0: 10})
    assert not resume.accept(0, 9) and not resume.accept(0, 10)
    assert resume.accept(0, 11) and resume.accept(1, 0)
    resume.note(1, 4)
    resume.note(1, 2)  # never goes backwards
    assert resume.next_offset(1) == 5 and resume.next_offset(0) == 11 and resume.next_offset(2) is None
    assert not resume.accept(1, 4)


def test_rows_round_trip_exactly_including_float_precision(tmp_path):
    path = tmp_path / "candles.csv"
    candle = Candle("ETH", T0, T0 + 1_000_000, 0.1 + 0.2, 1 / 3 + 1, 0.1, 1 / 3 + 0.5, 12.000000000001,
                    0.7, 42, T0 + 1_000_000, T0 + 1_000_100)
    with CsvAppender(path, CANDLES_COLUMNS) as out:
        out.append([record_row(candle, CANDLES_COLUMNS, T0 + 5, 2, 77)])
    (row,) = rows(path)
    assert float(row["open"]) == candle.open and float(row["high"]) == candle.high
    assert float(row["volume"]) == candle.volume and int(row["trade_count"]) == 42
    assert (row["written_ts_us"], row["kafka_partition"], row["kafka_offset"]) == (str(T0 + 5), "2", "77")


def test_record_row_refuses_a_line_break_inside_a_field():
    with pytest.raises(ValueError, match="line break"):
        record_row(Trade("BT\nC", 1, 1.0, 1.0, "buy", T0, T0), TRADES_COLUMNS, T0, 0, 0)


def test_claim_csv_moves_aside_a_file_from_another_topic_incarnation(tmp_path):
    path = tmp_path / "trades.csv"
    assert claim_csv(path, "trades", "id-1") is None
    path.write_text("header\n")
    assert claim_csv(path, "trades", "id-1") is None  # same topic: keep resuming
    assert path.exists()
    moved = claim_csv(path, "trades", "id-2")  # topic recreated: offsets restarted
    assert moved is not None and moved.read_text() == "header\n" and not path.exists()
    assert '"id-2"' in source_path(path).read_text()


def test_require_writable_dir_creates_it_and_names_an_unwritable_one(tmp_path):
    assert require_writable_dir(tmp_path / "a" / "b").is_dir()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(CsvFileError) as err:
        require_writable_dir(blocked / "data")
    message = str(err.value)
    assert str(blocked / "data") in message and "KAFKALAB_RESULTS_DIR" in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_require_writable_dir_read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CsvFileError, match="cannot write to results folder"):
            require_writable_dir(folder)
    finally:
        folder.chmod(0o700)


def test_exclusive_writer_refuses_a_second_writer_and_frees_the_lock_on_exit(tmp_path):
    import subprocess
    import sys

    from kafkalab.transports.kafka.sink import exclusive_writer

    path = tmp_path / "trades.csv"
    with exclusive_writer(path):
        # another process (flock locks are per open file, so a second process is the real case)
        probe = subprocess.run([sys.executable, "-c", f"from kafkalab.transports.kafka.sink import exclusive_writer\n"
                                f"with exclusive_writer({str(path)!r}): pass"], capture_output=True, text=True)
        assert probe.returncode != 0
        assert f"{path} is being written by pid {os.getpid()}" in probe.stderr
    with exclusive_writer(path):  # released
        pass


def test_background_sync_reports_tickets_done_and_fsync_errors(tmp_path):
    from kafkalab.transports.kafka.sink import BackgroundSync

    a, b = CsvAppender(tmp_path / "a.csv", TRADES_COLUMNS), CsvAppender(tmp_path / "b.csv", TRADES_COLUMNS)
    with BackgroundSync([a, b]) as syncer:
        a.write([record_row(trade(1), TRADES_COLUMNS, T0, 0, 0)])
        first = syncer.request()
        second = syncer.request()
        assert syncer.wait(second, timeout_s=10) and syncer.done >= second > first
    assert len(rows(tmp_path / "a.csv")) == 1
    a._file.close()  # an fsync that fails (here: EBADF) must surface, not be swallowed
    syncer = BackgroundSync([a])
    try:
        with pytest.raises(CsvFileError, match=r"cannot fsync .*a.csv"):
            syncer.wait(syncer.request(), timeout_s=10)
    finally:
        syncer.close()
        b.close()
