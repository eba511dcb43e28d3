"""What components and the runner report while running: `logging`, one format, one rate limiter.

Every line names who reports it: `log(name)` returns a logger whose records carry the
component name (`trade-generator`, `market-processor`, `pipeline`, ...). Under papermill the
lines land in the executed notebook and results/runs/<component>.log; in `docker logs` they
read the same. CLI results (a command's final answer) stay plain text on stdout.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

FORMAT = "%(asctime)s %(levelname)s %(component)s: %(message)s"
ROOT = "kafkalab"
_configured = threading.Lock()
_handler: logging.Handler | None = None


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (papermill, pytest's capture, a redirect)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _ComponentFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "component"):  # a library module's own logger
            record.component = record.name.rpartition(".")[2]
        return super().format(record)


def configure(stream=None, level: int = logging.INFO) -> None:
    """One handler on the package's logger (idempotent); `stream` defaults to the current
    stdout, which papermill and docker both capture. Call again with another stream to move it."""
    global _handler
    with _configured:
        logger = logging.getLogger(ROOT)
        if _handler is not None:
            logger.removeHandler(_handler)
        _handler = logging.StreamHandler(stream) if stream is not None else _CurrentStdout()
        _handler.setFormatter(_ComponentFormatter(FORMAT, "%H:%M:%S"))
        logger.addHandler(_handler)
        logger.setLevel(level)
        logger.propagate = False


def log(component: str) -> logging.LoggerAdapter:
    """The logger for `component`; lines read `<time> INFO <component>: <message>`."""
    if _handler is None:
        configure()
    return logging.LoggerAdapter(logging.getLogger(f"{ROOT}.{component}"), {"component": component})


class RateLimiter:
    """True at most once per `every_s` seconds per key: for reports that would otherwise repeat
    on every loop step (a broker down, a slow consumer)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: dict[object, float] = {}

    def ready(self, key: object = None) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) >= self.every_s:
            self._last[key] = now
            return True
        return False
