"""The durable CSV files the sinks write, for every transport (no transport imported here).

Guarantees, and how:
- Complete lines only. A batch is formatted in memory and handed to the OS with one
  `write` (then it survives a killed process); `BackgroundSync` fsyncs it in a thread
  (then it survives a machine crash) without holding up the next batch. A process killed
  mid-write leaves at most one partial last line; it is cut off when the file is opened again.
- Columns declared once (`columns`): the message's fields, then `written_ts_us, transport,
  position`. `position` is opaque here: only the transport that wrote a row understands it
  (Kafka: "partition:offset"), so resuming without duplicates is that transport's business;
  `written_positions` hands it back the positions it wrote.
- One writer per file: `exclusive_writer` (flock) refuses a second one.
- One file per source: `claim_csv` moves aside a file written from an earlier source (a
  topic deleted and recreated restarts its offsets) instead of letting its positions hide
  new records.
Bookkeeping files (locks, source sidecars) live in a `.state/` folder beside the CSVs, so the
data folder holds only data.
"""

from kafkalab.core.csvstore.appender import CsvAppender
from kafkalab.core.csvstore.columns import (BOOK_FEATURES_COLUMNS, BOOK_FEATURES_CSV, CANDLES_COLUMNS, CANDLES_CSV,
                                            SINK_COLUMNS, TRADES_COLUMNS, TRADES_CSV, format_rows, message_values,
                                            record_row)
from kafkalab.core.csvstore.files import CsvFileError, require_writable_dir, state_path
from kafkalab.core.csvstore.lock import exclusive_writer
from kafkalab.core.csvstore.recent import RecentKeys
from kafkalab.core.csvstore.repair import (end_of_last_complete_line, prepare_csv, read_header, truncate_partial_line,
                                           written_positions)
from kafkalab.core.csvstore.source import claim_csv, source_path
from kafkalab.core.csvstore.sync import BackgroundSync
from kafkalab.core.csvstore.targets import SinkTarget, candles_targets, trades_target

__all__ = [
    "BOOK_FEATURES_COLUMNS", "BOOK_FEATURES_CSV", "CANDLES_COLUMNS", "CANDLES_CSV", "SINK_COLUMNS", "TRADES_COLUMNS",
    "TRADES_CSV", "BackgroundSync", "CsvAppender", "RecentKeys", "CsvFileError", "SinkTarget", "candles_targets",
    "trades_target", "claim_csv", "end_of_last_complete_line",
    "exclusive_writer", "format_rows", "message_values", "prepare_csv", "read_header", "record_row",
    "require_writable_dir", "source_path", "state_path", "truncate_partial_line", "written_positions",
]
