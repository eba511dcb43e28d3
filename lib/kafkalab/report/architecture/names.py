"""The CSV files the sinks write: file names and columns, declared once by the CSV store."""

from __future__ import annotations

from kafkalab.core.csvstore import (
    BOOK_FEATURES_COLUMNS,
    BOOK_FEATURES_CSV,
    CANDLES_COLUMNS,
    CANDLES_CSV,
    TRADES_COLUMNS,
    TRADES_CSV,
)

COLUMNS_MODULE = "kafkalab.core.csvstore"

__all__ = ["BOOK_FEATURES_COLUMNS", "BOOK_FEATURES_CSV", "CANDLES_COLUMNS", "CANDLES_CSV", "COLUMNS_MODULE",
           "TRADES_COLUMNS", "TRADES_CSV", "csv_path"]


def csv_path(name: str) -> str:
    return f"results/data/{name}"
