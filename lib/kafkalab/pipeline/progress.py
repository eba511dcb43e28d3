"""What `kafkalab run` shows while it runs: seconds of generation and the rows in the CSVs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from kafkalab.runtime.logs import RateLimiter


class LineCounter:
    """Rows in a growing CSV (lines minus the header), counted incrementally, and how many of them
    were added since the counter was made (this run's rows; the file may hold earlier runs' too)."""

    def __init__(self, path: Path):
        self.path = path
        self._size = 0
        self._lines = 0
        self._file: tuple[int, int] | None = None  # (device, inode) of the file counted
        self.rows_before = self.rows()
        self._file_before = self._file

    def rows(self) -> int:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._size = self._lines = 0
            self._file = None
            return 0
        size, file = stat.st_size, (stat.st_dev, stat.st_ino)
        if size < self._size or file != self._file:  # replaced or truncated: count again
            self._size = self._lines = 0
            self._file = file
        if size > self._size:
            with self.path.open("rb") as f:
                f.seek(self._size)
                chunk = f.read(size - self._size)
            complete = chunk.rfind(b"\n") + 1  # only whole lines; the rest next time
            self._lines += chunk.count(b"\n", 0, complete)
            self._size += complete
        return max(0, self._lines - 1)

    def rows_added(self) -> int:
        """Rows written since the counter was made; a file moved aside meanwhile (a sink starting a
        new one) leaves only rows of this run in the one there now."""
        rows = self.rows()
        same_file = self._file == self._file_before and rows >= self.rows_before
        return rows - self.rows_before if same_file else rows


class Progress:
    """A tqdm bar (seconds of generation, live CSV row counts) on a terminal; a line every few s otherwise."""

    LINE_EVERY_S = 5.0

    def __init__(self, seconds: float, rows: Callable[[], dict[str, int]], echo: Callable[[str], None], show: bool):
        from tqdm import tqdm

        self.seconds, self.rows, self.echo, self.show = seconds, rows, echo, show
        self.started = time.monotonic()
        self.lines = RateLimiter(self.LINE_EVERY_S)
        self.lines.ready()  # the first line is due one period from now
        self.bar = None
        if show and sys.stderr.isatty():
            import shutil

            # A terminal that reports no size (some ptys) would hide the bar: assume 100 x 20.
            size = shutil.get_terminal_size((100, 20))
            self.bar = tqdm(total=round(seconds), unit="s", desc="pipeline", mininterval=0.5,
                            ncols=size.columns, nrows=size.lines,
                            bar_format="pipeline {n:.0f}/{total:.0f} s |{bar:20}| {desc}")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def _text(self, phase: str) -> str:
        return f"{phase}; rows this run " + ", ".join(f"{k}={v:,}" for k, v in self.rows().items())

    def update(self, phase: str) -> None:
        if self.bar is not None:
            self.bar.n = min(round(self.seconds), round(self.elapsed_s))
            self.bar.set_description_str(self._text(phase), refresh=False)
            self.bar.refresh()
        elif self.show and self.lines.ready():
            self.echo(f"[{self.elapsed_s:5.0f} s] {self._text(phase)}")

    def close(self) -> None:
        if self.bar is not None:
            self.update("done")
            self.bar.close()
