"""The durable CSV store, without a broker: partial lines, headers, positions, row format, lock, fsync."""

from __future__ import annotations

import os

import pytest

from kafkalab.core.models import Candle, Trade
from kafkalab.core.csvstore import (
    BOOK_FEATURES_COLUMNS,
    CANDLES_COLUMNS,
    SINK_COLUMNS,
    TRADES_COLUMNS,
    BackgroundSync,
    CsvAppender,
    CsvFileError,
    claim_csv,
    exclusive_writer,
    format_rows,
    prepare_csv,
    record_row,
    require_writable_dir,
    source_path,
    truncate_partial_line,
    written_positions,
)

from helpers import read_rows

T0 = 1_700_000_000_000_000


def trade(n: int, price: float = 100.25) -> Trade:
    return Trade("BTC", n, price, 0.5, "buy", T0 + n, T0 + n + 7)


def row(n: int, transport: str = "zeromq", position: str | None = None) -> list[object]:
    return record_row(trade(n), TRADES_COLUMNS, T0, transport, f"p1:{n}" if position is None else position)


def test_columns_are_message_fields_then_sink_columns():
    assert TRADES_COLUMNS[: len(Trade.field_names())] == Trade.field_names()
    assert CANDLES_COLUMNS[-3:] == BOOK_FEATURES_COLUMNS[-3:] == TRADES_COLUMNS[-3:] == SINK_COLUMNS
    assert SINK_COLUMNS == ("written_ts_us", "transport", "position")
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


def test_prepare_writes_the_header_once_and_positions_come_back_per_transport(tmp_path):
    path = tmp_path / "trades.csv"
    prepare_csv(path, TRADES_COLUMNS)
    assert list(written_positions(path, "zeromq", str)) == []
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([row(1, position="p1:5"), row(2, "kafka", "2:9"), row(3, position="p2:1"), row(4, "rabbitmq", "")])
    prepare_csv(path, TRADES_COLUMNS)
    assert path.read_text().count("symbol,") == 1
    assert len(read_rows(path)) == 4
    # opaque to the store: each transport reads back only its own positions, with its own parser
    assert list(written_positions(path, "zeromq", str)) == ["p1:5", "p2:1"]
    assert list(written_positions(path, "kafka", lambda text: tuple(map(int, text.split(":"))))) == [(2, 9)]
    assert list(written_positions(path, "rabbitmq", str)) == [""]
    assert list(written_positions(tmp_path / "missing.csv", "kafka", str)) == []


def test_prepare_repairs_a_killed_write_and_keeps_complete_rows(tmp_path):
    path = tmp_path / "trades.csv"
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([row(1)])
    full_line = format_rows([row(2)])
    with path.open("ab") as f:
        f.write(full_line[: len(full_line) // 2])  # what a kill -9 mid-write leaves
    prepare_csv(path, TRADES_COLUMNS)
    assert [r["trade_id"] for r in read_rows(path)] == ["1"]
    assert list(written_positions(path, "zeromq", str)) == ["p1:1"]


def test_prepare_refuses_a_file_with_other_columns(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CsvFileError, match=r"trades.csv has columns a,b,c.*move the file away"):
        prepare_csv(path, TRADES_COLUMNS)
    with pytest.raises(CsvFileError, match=r"trades.csv has columns a,b,c"):
        CsvAppender(path, TRADES_COLUMNS)
    assert path.read_text() == "a,b,c\n1,2,3\n"  # refused, untouched


def test_written_positions_names_a_corrupt_line(tmp_path):
    path = tmp_path / "trades.csv"
    prepare_csv(path, TRADES_COLUMNS)
    with path.open("a") as f:
        f.write("garbage\n")
    with pytest.raises(CsvFileError, match=r"line 2 is not a sink row"):
        list(written_positions(path, "kafka", str))


def test_written_positions_names_a_position_its_transport_cannot_read(tmp_path):
    path = tmp_path / "trades.csv"
    with CsvAppender(path, TRADES_COLUMNS) as out:
        out.append([row(1, "kafka", "0:1"), row(2, "kafka", "not-a-position")])
    with pytest.raises(CsvFileError, match=r"trades.csv line 3 is not a sink row"):
        list(written_positions(path, "kafka", lambda text: tuple(map(int, text.split(":")))))


def test_rows_round_trip_exactly_including_float_precision(tmp_path):
    path = tmp_path / "candles.csv"
    candle = Candle("ETH", T0, T0 + 1_000_000, 0.1 + 0.2, 1 / 3 + 1, 0.1, 1 / 3 + 0.5, 12.000000000001,
                    0.7, 42, T0 + 1_000_000, T0 + 1_000_100)
    with CsvAppender(path, CANDLES_COLUMNS) as out:
        out.append([record_row(candle, CANDLES_COLUMNS, T0 + 5, "kafka", "2:77")])
    (written,) = read_rows(path)
    assert float(written["open"]) == candle.open and float(written["high"]) == candle.high
    assert float(written["volume"]) == candle.volume and int(written["trade_count"]) == 42
    assert (written["written_ts_us"], written["transport"], written["position"]) == (str(T0 + 5), "kafka", "2:77")


def test_record_row_refuses_a_line_break_inside_a_field():
    with pytest.raises(ValueError, match="line break"):
        record_row(Trade("BT\nC", 1, 1.0, 1.0, "buy", T0, T0), TRADES_COLUMNS, T0, "kafka", "0:0")


def test_claim_csv_moves_aside_a_file_from_another_topic_incarnation(tmp_path):
    path = tmp_path / "trades.csv"
    assert claim_csv(path, {"topic": "trades", "topic_id": "id-1"}) is None
    path.write_text("header\n")
    assert claim_csv(path, {"topic": "trades", "topic_id": "id-1"}) is None  # same topic: keep resuming
    assert path.exists()
    moved = claim_csv(path, {"topic": "trades", "topic_id": "id-2"})  # topic recreated: offsets restarted
    assert moved is not None and moved.read_text() == "header\n" and not path.exists()
    assert '"id-2"' in source_path(path).read_text()


def test_bookkeeping_files_stay_out_of_the_data_folder(tmp_path):
    path = tmp_path / "trades.csv"
    with exclusive_writer(path):
        claim_csv(path, {"topic": "trades", "topic_id": "id-1"})
        with CsvAppender(path, TRADES_COLUMNS) as out:
            out.append([row(1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".state", "trades.csv"]
    assert sorted(p.name for p in (tmp_path / ".state").iterdir()) == ["trades.csv.lock", "trades.csv.source.json"]
    assert source_path(path).parent == tmp_path / ".state"


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

    path = tmp_path / "trades.csv"
    with exclusive_writer(path):
        # another process (flock locks are per open file, so a second process is the real case)
        probe = subprocess.run([sys.executable, "-c", f"from kafkalab.core.csvstore import exclusive_writer\n"
                                f"with exclusive_writer({str(path)!r}): pass"], capture_output=True, text=True)
        assert probe.returncode != 0
        assert f"{path} is being written by pid {os.getpid()}" in probe.stderr
    with exclusive_writer(path):  # released
        pass
    assert (tmp_path / ".state" / "trades.csv.lock").read_text() == ""  # no stale pid left


def test_bookkeeping_files_of_earlier_versions_move_out_of_the_data_folder(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("header\n")
    (tmp_path / "trades.csv.lock").write_text("pid 1\n")
    (tmp_path / "trades.csv.source.json").write_text('{"topic": "trades", "topic_id": "id-1"}\n')
    moved = claim_csv(path, {"topic": "trades", "topic_id": "id-2"})  # the old sidecar still protects
    assert moved is not None and moved.read_text() == "header\n"
    with exclusive_writer(path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".state", moved.name]
    assert sorted(p.name for p in (tmp_path / ".state").iterdir()) == ["trades.csv.lock", "trades.csv.source.json"]


def test_background_sync_reports_tickets_done_and_fsync_errors(tmp_path):
    a, b = CsvAppender(tmp_path / "a.csv", TRADES_COLUMNS), CsvAppender(tmp_path / "b.csv", TRADES_COLUMNS)
    with BackgroundSync([a, b]) as syncer:
        a.write([row(1)])
        first = syncer.request()
        second = syncer.request()
        assert syncer.wait(second, timeout_s=10) and syncer.done >= second > first
    assert len(read_rows(tmp_path / "a.csv")) == 1
    a._file.close()  # an fsync that fails (here: EBADF) must surface, not be swallowed
    syncer = BackgroundSync([a])
    try:
        with pytest.raises(CsvFileError, match=r"cannot fsync .*a.csv"):
            syncer.wait(syncer.request(), timeout_s=10)
    finally:
        syncer.close()
        b.close()
