"""The sink files' names and columns, declared once, and how a record becomes a CSV line."""

from __future__ import annotations

import csv
import io
import operator
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from kafkalab.core.models import BookFeatures, Candle, Record, Trade

# The columns every sink adds after the message fields. `transport` is kafka|rabbitmq|zeromq;
# `position` is where the record came from, in a form only that transport reads back.
SINK_COLUMNS = ("written_ts_us", "transport", "position")
TRADES_COLUMNS: tuple[str, ...] = (*Trade.field_names(), *SINK_COLUMNS)
CANDLES_COLUMNS: tuple[str, ...] = (*Candle.field_names(), *SINK_COLUMNS)
BOOK_FEATURES_COLUMNS: tuple[str, ...] = (*BookFeatures.field_names(), *SINK_COLUMNS)

TRADES_CSV = "trades.csv"
CANDLES_CSV = "candles.csv"
BOOK_FEATURES_CSV = "book_features.csv"


@lru_cache(maxsize=None)
def _message_getter(columns: tuple[str, ...]) -> Callable[[Record], tuple]:
    """Reads a record's fields in column order (the columns before the sink's own)."""
    if columns[-len(SINK_COLUMNS):] != SINK_COLUMNS:
        raise ValueError(f"sink columns must end with {SINK_COLUMNS}")
    getter = operator.attrgetter(*columns[: -len(SINK_COLUMNS)])
    return getter if len(columns) > len(SINK_COLUMNS) + 1 else (lambda record: (getter(record),))


def message_values(record: Record, columns: Sequence[str]) -> tuple:
    """The message part of a CSV row (flat message types: plain attribute reads, no copies)."""
    values = _message_getter(tuple(columns))(record)
    # A line break inside a field would split a row across lines and defeat the
    # partial-line repair; such a record is refused (it goes to dead-letters).
    for value in values:
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raise ValueError(f"field value {value[:20]!r} contains a line break")
    return values


def record_row(record: Record, columns: Sequence[str], written_ts_us: int, transport: str,
               position: str) -> list[object]:
    """One CSV row: the message's fields in column order, then the sink's own columns."""
    return [*message_values(record, columns), written_ts_us, transport, position]


def format_rows(rows: Iterable[Sequence[object]]) -> bytes:
    """CSV lines for `rows`, every one ending in a newline (floats keep full precision)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()
