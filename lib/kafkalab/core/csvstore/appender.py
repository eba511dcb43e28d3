"""Appending whole batches of rows to one CSV: one write per batch, fsync on request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from kafkalab.core.csvstore.columns import format_rows
from kafkalab.core.csvstore.repair import prepare_csv


class CsvAppender:
    """Appends whole batches of rows to one CSV (repaired and headed on open) and makes each durable."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = tuple(columns)
        prepare_csv(self.path, self.columns)
        self._file = self.path.open("ab")
        self.rows_written = 0

    def write(self, rows: Sequence[Sequence[object]]) -> None:
        """One write of whole lines, handed to the OS: they survive a killed process at once,
        and a machine crash after the next `sync`."""
        if not rows:
            return
        self._file.write(format_rows(rows))
        self._file.flush()
        self.rows_written += len(rows)

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def append(self, rows: Sequence[Sequence[object]]) -> None:
        """write + fsync: after return the rows survive a crash."""
        self.write(rows)
        self.sync()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> "CsvAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
