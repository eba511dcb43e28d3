"""Which stream goes to which CSV file: the sinks of every transport share this declaration.

A target names the stream a sink reads (a Kafka topic, a RabbitMQ stream, a ZeroMQ stream),
the file, the record type and columns, the sink's row counter for that file, and the fields
that name a record where a transport must recognise a copy of one (Kafka: a copy at a new
offset; RabbitMQ: a redelivery after a lost ack). Which fields those are is the transport's
choice, so the factories take them as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from kafkalab.core.csvstore.columns import (BOOK_FEATURES_COLUMNS, BOOK_FEATURES_CSV, CANDLES_COLUMNS, CANDLES_CSV,
                                            TRADES_COLUMNS, TRADES_CSV)
from kafkalab.core.models import BookFeatures, Candle, Record, Trade
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, TRADES


@dataclass(frozen=True)
class SinkTarget:
    """One stream written to one CSV file."""

    stream: str
    path: Path
    record_type: type[Record]
    columns: tuple[str, ...]
    counter: str  # the per-file row counter name
    key_fields: tuple[str, ...] = ()

    def key_of(self, values: tuple) -> tuple:
        """The key of a decoded row (`values` in `columns` order)."""
        return tuple(values[i] for i in self._key_indexes)

    def key_text(self, record: Record) -> tuple[str, ...]:
        """The key of a record as text, the way it reads back from the file."""
        return tuple(str(getattr(record, f)) for f in self.key_fields)

    @cached_property  # once per target, not per record
    def _key_indexes(self) -> tuple[int, ...]:
        return tuple(self.columns.index(name) for name in self.key_fields)


def trades_target(data_dir: Path, stream: str = TRADES, file_name: str = TRADES_CSV,
                  key_fields: tuple[str, ...] = ()) -> SinkTarget:
    return SinkTarget(stream, Path(data_dir) / file_name, Trade, TRADES_COLUMNS, "trades_rows", key_fields)


def candles_targets(data_dir: Path, candles_stream: str = CANDLES, book_features_stream: str = BOOK_FEATURES,
                    candles_file: str = CANDLES_CSV, book_features_file: str = BOOK_FEATURES_CSV,
                    key_fields: tuple[str, ...] = ()) -> tuple[SinkTarget, SinkTarget]:
    """candles and book features: one sink writes both files."""
    return (SinkTarget(candles_stream, Path(data_dir) / candles_file, Candle, CANDLES_COLUMNS, "candle_rows",
                       key_fields),
            SinkTarget(book_features_stream, Path(data_dir) / book_features_file, BookFeatures,
                       BOOK_FEATURES_COLUMNS, "book_feature_rows", key_fields))
