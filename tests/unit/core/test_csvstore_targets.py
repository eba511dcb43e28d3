"""The sink targets every transport shares: which stream goes to which file, and a record's key."""

from __future__ import annotations

from pathlib import Path

from kafkalab.core.csvstore import (BOOK_FEATURES_COLUMNS, CANDLES_COLUMNS, TRADES_COLUMNS, candles_targets,
                                    message_values, trades_target)
from kafkalab.core.models import BookFeatures, Candle, Trade

TRADE = Trade(symbol="BTC", trade_id=7, price=101.5, size=2.0, side="buy", event_ts_us=1_000, produced_ts_us=2_000)


def test_trades_target_names_the_file_the_columns_and_the_counter(tmp_path: Path):
    target = trades_target(tmp_path, "lab-trades", "t.csv")
    assert (target.stream, target.path, target.record_type, target.columns, target.counter) == \
        ("lab-trades", tmp_path / "t.csv", Trade, TRADES_COLUMNS, "trades_rows")
    assert target.key_fields == ()


def test_candles_targets_are_two_files_with_one_key_choice(tmp_path: Path):
    candles, features = candles_targets(tmp_path, key_fields=("symbol", "window_start_us"))
    assert (candles.stream, candles.path.name, candles.record_type, candles.columns, candles.counter) == \
        ("candles", "candles.csv", Candle, CANDLES_COLUMNS, "candle_rows")
    assert (features.stream, features.path.name, features.record_type, features.columns, features.counter) == \
        ("book-features", "book_features.csv", BookFeatures, BOOK_FEATURES_COLUMNS, "book_feature_rows")
    assert candles.key_fields == features.key_fields == ("symbol", "window_start_us")


def test_the_key_of_a_decoded_row_and_of_a_record_name_the_same_fields(tmp_path: Path):
    target = trades_target(tmp_path, key_fields=("symbol", "trade_id", "produced_ts_us"))
    values = tuple(message_values(TRADE, TRADES_COLUMNS))
    assert target.key_of(values) == ("BTC", 7, 2_000)
    assert target.key_text(TRADE) == ("BTC", "7", "2000")  # as the CSV reads back
