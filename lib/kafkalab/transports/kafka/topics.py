"""The application's topics, declared once.

The local runner (`kafkalab cluster up` / `kafkalab topics create`) and the Docker
topic set-up job both create topics from this table. A topic is named after its stream
(kafkalab.core.streams).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafkalab.core.streams import BOOK_FEATURES, CANDLES, DEAD_LETTERS, ORDERBOOKS, TRADES

# Re-exported: Kafka modules name topics through this module.
__all__ = ["BOOK_FEATURES", "CANDLES", "DEAD_LETTERS", "ORDERBOOKS", "TRADES", "TOPICS", "TOPICS_BY_NAME",
           "TRANSPORT", "TopicSpec", "parse_position", "position", "spec"]

TRANSPORT = "kafka"  # the `transport` column of the rows Kafka components write

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 3
    configs: dict[str, str] = field(default_factory=dict)

    def all_configs(self) -> dict[str, str]:
        # min ISR 2 with RF 3: an acks=all write survives one broker loss and is
        # refused (not silently lost) when two are down.
        return {"min.insync.replicas": "2", **self.configs}


TOPICS: tuple[TopicSpec, ...] = (
    # Keyed by symbol: six partitions leave room for up to six processor instances.
    TopicSpec(TRADES, 6, configs={"retention.ms": str(DAY_MS)}),
    TopicSpec(ORDERBOOKS, 6, configs={"retention.ms": str(6 * HOUR_MS)}),
    TopicSpec(CANDLES, 3, configs={"retention.ms": str(7 * DAY_MS)}),
    TopicSpec(BOOK_FEATURES, 3, configs={"retention.ms": str(7 * DAY_MS)}),
    TopicSpec(DEAD_LETTERS, 1, configs={"retention.ms": str(7 * DAY_MS)}),
)

TOPICS_BY_NAME = {spec.name: spec for spec in TOPICS}


def spec(name: str) -> TopicSpec:
    return TOPICS_BY_NAME[name]


def position(partition: int, offset: int) -> str:
    """Where a record sits in its topic, as the CSVs' opaque `position` column holds it."""
    return f"{partition}:{offset}"


def parse_position(text: str) -> tuple[int, int]:
    """(partition, offset) of a `position` string; ValueError for anything else."""
    partition, offset = text.split(":")
    return int(partition), int(offset)
