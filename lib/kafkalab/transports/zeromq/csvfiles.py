"""The sinks' CSV files over ZeroMQ: kafkalab.core.csvstore's files, resumed by position.

Rows end with `written_ts_us, transport, position` (transport "zeromq", position
"<producer>:<sequence>"). On open the core repairs the file (a torn last line from a
kill -9 is cut) and checks its header; this module reads back the highest sequence per
producer that ZeroMQ rows hold: the sink then drops anything at or below it and counts
what came in between as a gap. Rows of another transport in the same file are not ours
to interpret and are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from kafkalab.core.csvstore import CsvAppender, record_row, written_positions
from kafkalab.core.models import Record

TRANSPORT = "zeromq"
SYNC_EVERY_S = 1.0  # how often a busy sink asks for a background fsync


def split_position(position: str) -> tuple[str, int]:
    """"producer:sequence" -> (producer, sequence); ValueError for anything else."""
    producer, colon, sequence = position.rpartition(":")
    if not (colon and producer):
        raise ValueError(f"position {position[:40]!r} is not producer:sequence")
    return producer, int(sequence)


class PositionedCsv(CsvAppender):
    """A sink CSV that knows the last sequence written per producer (`last`)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        super().__init__(path, columns)
        self.last: dict[str, int] = {}
        for producer, sequence in written_positions(self.path, TRANSPORT, split_position):
            if sequence > self.last.get(producer, 0):
                self.last[producer] = sequence

    def row(self, record: Record, written_ts_us: int, position: str) -> list:
        """The CSV row; ValueError for a text field with a line break (it would defeat the torn-line repair)."""
        return record_row(record, self.columns, written_ts_us, TRANSPORT, position)
