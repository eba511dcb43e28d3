"""The CSV files the sinks write: file names and columns, declared once by the CSV store.

The durable CSV store is moving from the Kafka sink into kafkalab.core.csvstore (one
schema for every transport); the report reads whichever the installed code has.
"""

from __future__ import annotations

try:
    from kafkalab.core.csvstore import (
        BOOK_FEATURES_COLUMNS,
        BOOK_FEATURES_CSV,
        CANDLES_COLUMNS,
        CANDLES_CSV,
        TRADES_COLUMNS,
        TRADES_CSV,
    )

    COLUMNS_MODULE = "kafkalab.core.csvstore"
except ImportError:  # before the CSV store left the Kafka sink
    from kafkalab.transports.kafka.sink import (  # type: ignore[assignment]
        BOOK_FEATURES_COLUMNS,
        BOOK_FEATURES_CSV,
        CANDLES_COLUMNS,
        CANDLES_CSV,
        TRADES_COLUMNS,
        TRADES_CSV,
    )

    COLUMNS_MODULE = "kafkalab.transports.kafka.sink"

__all__ = ["BOOK_FEATURES_COLUMNS", "BOOK_FEATURES_CSV", "CANDLES_COLUMNS", "CANDLES_CSV", "COLUMNS_MODULE",
           "TRADES_COLUMNS", "TRADES_CSV", "csv_path"]


def csv_path(name: str) -> str:
    return f"results/data/{name}"
