"""Pacing a generator: how many records are due now at a given rate (no transport).

The schedule is absolute: the n-th record is due at start + n / rate, so the time spent
sleeping and sending takes nothing from the rate. When the sender falls far behind
(a full local queue, brokers down) the schedule re-anchors at now instead of catching up
with a burst. Rate 0 ("max") means as fast as the sender can go.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from kafkalab.errors import ConfigError

MAX_BATCH = 1000  # records per step at most, so stop requests and polls stay prompt
MAX_LAG_S = 1.0  # further behind schedule than this: re-anchor, no burst


def parse_rate(rate_hz: float | int | str | None, default: float) -> float:
    """Records per second; 0 or 'max' = as fast as possible (returned as 0.0)."""
    if rate_hz is None or rate_hz == "":
        return default
    if isinstance(rate_hz, str) and rate_hz.strip().lower() in ("max", "0"):
        return 0.0
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"rate_hz must be a number of records per second or 'max' (got {rate_hz!r})") from None
    if rate == 0:
        return 0.0
    if not (1.0 <= rate <= 1_000_000) or math.isnan(rate):
        raise ConfigError(f"rate_hz must be from 1 to 1000000, or 0/'max' for as fast as possible (got {rate_hz!r})")
    return rate


class Pacer:
    """Records due at `rate_hz` (0 = as fast as possible) on an absolute schedule.

    Call `start()` when sending begins, `due()` for how many to send now, `sent(n)` after
    sending them, and `seconds_until_due()` for how long to wait when none is due.
    """

    def __init__(self, rate_hz: float, *, max_batch: int = MAX_BATCH, max_lag_s: float = MAX_LAG_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_hz = float(rate_hz)
        self.max_batch = max_batch
        self.max_lag_s = max_lag_s
        self.clock = clock
        self.anchor = clock()
        self.scheduled = 0  # records sent since the anchor

    def start(self) -> None:
        self.anchor, self.scheduled = self.clock(), 0

    def due(self) -> int:
        if not self.rate_hz:
            return self.max_batch
        now = self.clock()
        if now - self._next_due_at() > self.max_lag_s:
            self.start()
        due = int((now - self.anchor) * self.rate_hz) + 1 - self.scheduled
        return max(0, min(due, self.max_batch))

    def sent(self, count: int) -> None:
        self.scheduled += count

    def seconds_until_due(self) -> float:
        if not self.rate_hz:
            return 0.0
        return max(self._next_due_at() - self.clock(), 0.0)

    def _next_due_at(self) -> float:
        return self.anchor + self.scheduled / self.rate_hz
