"""One writer per CSV file: an exclusive lock the kernel releases however the holder exits."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kafkalab.core.csvstore.files import CsvFileError, state_path


def lock_path(csv_path: Path) -> Path:
    return state_path(csv_path, ".lock")


@contextmanager
def exclusive_writer(csv_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file's `.state/<file>.lock` while writing `csv_path`.

    Two sinks appending to one CSV would each resume from what they read at start and
    write the same records twice. The lock (flock) is released by the kernel when the
    holder exits in any way, kill -9 included, so a restart never finds a stale lock; the pid in
    the file is read only while the lock is held, so one left by kill -9 is never reported.
    """
    handle = lock_path(csv_path).open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CsvFileError(f"{csv_path} is being written by {holder}; stop that sink first "
                               f"(one sink per file) or use another results_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # the holder is gone: leave no pid behind (only kill -9 leaves one, never read)
    finally:
        handle.close()
