"""Reading what is already on disk: cut a torn last line, check the header, hand back positions."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from kafkalab.core.csvstore.columns import format_rows
from kafkalab.core.csvstore.files import CsvFileError, fsync_dir

NEWLINE = b"\n"
Position = TypeVar("Position")


def truncate_partial_line(path: Path) -> int:
    """Cut a trailing incomplete line (a write interrupted by kill -9); returns bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == NEWLINE:
            return 0
        keep = end_of_last_complete_line(f, size)
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def end_of_last_complete_line(f, size: int, block: int = 64 * 1024) -> int:
    """Offset just after the last newline in the open binary file `f` of `size` bytes (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        chunk = f.read(end - start)
        at = chunk.rfind(NEWLINE)
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def read_header(path: Path) -> list[str] | None:
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open(newline="") as f:
        return next(csv.reader(f), None)


def prepare_csv(path: Path, columns: Sequence[str]) -> None:
    """Make `path` a clean CSV with our header: a torn last line cut, a new file given the header."""
    path = Path(path)
    truncate_partial_line(path)
    header = read_header(path)
    if header is None:
        with path.open("wb") as f:
            f.write(format_rows([columns]))
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(path.parent)
        return
    if list(header) != list(columns):
        raise CsvFileError(
            f"{path} has columns {','.join(header)[:120]}, expected {','.join(columns)[:120]}; "
            f"move the file away or use another results_dir"
        )


def written_positions(path: Path, transport: str, parse: Callable[[str], Position]) -> Iterator[Position]:
    """The positions of the rows `transport` wrote to a sink CSV, each read by that transport's `parse`.

    A row that is not a sink row (wrong width, or a position `parse` refuses with ValueError)
    stops the reading with the line named: resuming past it could hide or repeat records.
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        t_col, p_col = header.index("transport"), header.index("position")
        for line, row in enumerate(reader, start=2):
            try:
                if len(row) != len(header):
                    raise ValueError(f"{len(row)} fields")
                if row[t_col] == transport:
                    yield parse(row[p_col])
            except ValueError:
                raise CsvFileError(
                    f"{path} line {line} is not a sink row; move the file away (the sink then starts a new one)"
                ) from None
