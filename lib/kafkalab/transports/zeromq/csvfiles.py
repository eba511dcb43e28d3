"""The sinks' CSV files over ZeroMQ: the shared schema, resumed from the `position` column.

Rows end with `written_ts_us, transport, position` (transport "zeromq", position
"<producer>:<sequence>"). On start the file is repaired (a torn last line from a kill -9
is cut), its header checked, and the highest sequence per producer read back: the sink
then drops anything at or below it and counts what came in between as a gap. One write
per batch of whole lines (survives a killed process); the sink has them fsynced in the
background about every SYNC_EVERY_S and at the end (survives a machine crash).
"""

from __future__ import annotations

import csv
import operator
import os
from pathlib import Path
from typing import Sequence

from kafkalab.core.models import BookFeatures, Candle, Record, Trade
from kafkalab.transports.kafka.sink import CsvFileError, format_rows, read_header, truncate_partial_line

TRANSPORT = "zeromq"
SINK_COLUMNS = ("written_ts_us", "transport", "position")
TRADES_COLUMNS = (*Trade.field_names(), *SINK_COLUMNS)
CANDLES_COLUMNS = (*Candle.field_names(), *SINK_COLUMNS)
BOOK_FEATURES_COLUMNS = (*BookFeatures.field_names(), *SINK_COLUMNS)
TRADES_CSV, CANDLES_CSV, BOOK_FEATURES_CSV = "trades.csv", "candles.csv", "book_features.csv"
SYNC_EVERY_S = 1.0


def split_position(position: str) -> tuple[str, int]:
    producer, _, sequence = position.rpartition(":")
    return producer, int(sequence)


class PositionedCsv:
    """One sink CSV: appends rows, knows the last sequence written per producer."""

    def __init__(self, path: Path, record_type: type[Record], columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.values = operator.attrgetter(*self.columns[: -len(SINK_COLUMNS)])
        self.record_type = record_type
        self.last = self._prepare()
        self._file = self.path.open("ab")

    def _prepare(self) -> dict[str, int]:
        truncate_partial_line(self.path)
        header = read_header(self.path)
        if header is None:
            self.path.write_bytes(format_rows([self.columns]))
            return {}
        if tuple(header) != self.columns:
            raise CsvFileError(f"{self.path} has columns {','.join(header)[:120]}, expected "
                               f"{','.join(self.columns)[:120]}; move the file away or use another results_dir")
        return self._read_positions()

    def _read_positions(self) -> dict[str, int]:
        last: dict[str, int] = {}
        column, transport = self.columns.index("position"), self.columns.index("transport")
        with self.path.open(newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            for line, row in enumerate(reader, start=2):
                if len(row) != len(self.columns) or row[transport] != TRANSPORT:
                    continue  # another transport's row: its position means nothing here
                try:
                    producer, sequence = split_position(row[column])
                except ValueError:
                    raise CsvFileError(f"{self.path} line {line} has position {row[column][:40]!r}, not "
                                       f"producer:sequence; move the file away") from None
                if sequence > last.get(producer, 0):
                    last[producer] = sequence
        return last

    def row(self, record: Record, written_ts_us: int, position: str) -> tuple:
        """The CSV row; ValueError for a text field with a line break (it would defeat the torn-line repair)."""
        values = self.values(record)
        for value in values:
            if isinstance(value, str) and ("\n" in value or "\r" in value):
                raise ValueError(f"field value {value[:20]!r} contains a line break")
        return (*values, written_ts_us, TRANSPORT, position)

    def write(self, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._file.write(format_rows(rows))
            self._file.flush()

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
