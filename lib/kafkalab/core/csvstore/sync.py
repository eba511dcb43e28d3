"""fsync in a background thread with group commit: a slow disk delays durability, not the next row."""

from __future__ import annotations

import threading
from typing import Sequence

from kafkalab.core.csvstore.appender import CsvAppender
from kafkalab.core.csvstore.files import CsvFileError


class BackgroundSync:
    """fsyncs the files in a thread: a slow disk then delays durability (and the offset
    commits that wait for it), not the next row. Each `request()` returns a ticket; `done`
    is the highest ticket whose rows are on disk (group commit: one fsync may cover many)."""

    def __init__(self, files: Sequence[CsvAppender]):
        self.files = list(files)
        self._cv = threading.Condition()
        self._requested = self._done = 0
        self._closing = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="csv-fsync", daemon=True)
        self._thread.start()

    def request(self) -> int:
        with self._cv:
            self._requested += 1
            self._cv.notify_all()
            return self._requested

    @property
    def done(self) -> int:
        with self._cv:
            self._raise_if_failed()
            return self._done

    def wait(self, ticket: int, timeout_s: float = 60.0) -> bool:
        with self._cv:
            self._cv.wait_for(lambda: self._done >= ticket or self._error is not None, timeout_s)
            self._raise_if_failed()
            return self._done >= ticket

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise CsvFileError(f"cannot fsync {', '.join(str(f.path) for f in self.files)} "
                               f"({getattr(self._error, 'strerror', None) or self._error}); is the disk full or failing?")

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._requested > self._done or self._closing)
                if self._requested == self._done:
                    return  # closing, nothing left to sync
                target = self._requested
            try:
                for f in self.files:
                    f.sync()
            except (OSError, ValueError) as exc:  # ValueError: the file was closed underneath
                with self._cv:
                    self._error = exc
                    self._cv.notify_all()
                return
            with self._cv:
                self._done = target
                self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(60.0)

    def __enter__(self) -> "BackgroundSync":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
