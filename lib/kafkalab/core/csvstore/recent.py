"""The keys of the rows a sink wrote lately, to drop a copy of a record that arrives again at a new position."""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable


class RecentKeys:
    """The last `capacity` keys seen, oldest forgotten first.

    A copy written by an idempotent producer around a leader change (librdkafka#4953) follows its
    original within the producer's in-flight window, a few thousand records at most; a bound keeps
    a long run's memory flat."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = int(capacity)
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember `key`; False if it was seen lately (a copy: leave it out)."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)
