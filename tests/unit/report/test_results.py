"""Reading results/: loaders, latest run, sessions, latency and rates from small CSVs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kafkalab.core.csvstore import BOOK_FEATURES_COLUMNS, CANDLES_COLUMNS, TRADES_COLUMNS
from kafkalab.report import results, runs

T0 = 1_700_000_000_000_000  # us


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _trades(n: int, start_us: int = T0, step_us: int = 100_000, latency_us: int = 2_000) -> pd.DataFrame:
    produced = start_us + np.arange(n) * step_us
    return pd.DataFrame({
        "symbol": ["AAA", "BBB"] * (n // 2) + ["AAA"] * (n % 2),
        "trade_id": np.arange(1, n + 1),
        "price": 100.0 + np.arange(n) * 0.1,
        "size": 1.0,
        "side": "buy",
        "event_ts_us": produced - 10,
        "produced_ts_us": produced,
        "written_ts_us": produced + latency_us,
        "transport": "kafka",
        "position": [f"0:{i}" for i in range(n)],
    })[list(TRADES_COLUMNS)]


def test_missing_empty_and_header_only_files_read_as_none(tmp_path):
    assert results.read_csv(tmp_path / "nope.csv") is None
    assert results.read_csv(_write(tmp_path / "empty.csv", "")) is None
    assert results.read_csv(_write(tmp_path / "header.csv", "a,b\n")) is None
    assert results.load_pipeline(tmp_path) == {"trades": None, "candles": None, "book_features": None}
    assert results.bench_names(tmp_path) == []
    loaded = results.load_all(tmp_path)
    assert loaded.trades is None and loaded.bench == {}


def test_a_partial_last_line_is_skipped_not_fatal(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10,11\n")
    frame = results.read_csv(path)
    assert frame["a"].tolist() == [1, 4]


def test_latest_run_picks_the_most_recent_run_at(tmp_path):
    _write(tmp_path / "bench" / "producer.csv",
           "run_id,run_at,records_per_s\n"
           "r2,2024-05-02T10:00:00+00:00,20\n"
           "r1,2024-05-01T10:00:00+00:00,10\n"
           "r3,2024-05-03T10:00:00+00:00,30\n"
           "r3,2024-05-03T10:00:00+00:00,31\n")
    latest = results.load_bench(tmp_path, "producer")
    assert latest["records_per_s"].tolist() == [30, 31]
    assert len(results.load_bench(tmp_path, "producer", latest=False)) == 4
    assert results.run_count(results.load_bench(tmp_path, "producer", latest=False)) == 3
    assert results.bench_names(tmp_path) == ["producer"]


def test_a_table_without_run_id_is_taken_whole():
    frame = pd.DataFrame({"x": [1, 2]})
    assert results.latest_run(frame) is frame


def test_latency_in_ms_and_percentiles_per_stream():
    trades = _trades(100, latency_us=2_500)
    trades.loc[99, "written_ts_us"] = trades.loc[99, "produced_ts_us"] + 50_000
    assert results.latency_ms(trades).iloc[0] == pytest.approx(2.5)
    table = results.latency_summary({"trades": trades, "candles": None})
    assert table["stream"].tolist() == ["trades"]
    row = table.iloc[0]
    assert row["count"] == 100 and row["p50_ms"] == pytest.approx(2.5) and row["max_ms"] == pytest.approx(50.0)


def test_ecdf_reaches_one_and_is_sorted():
    x, y = results.ecdf(pd.Series([3.0, 1.0, 2.0, 2.0]))
    assert x.tolist() == [1.0, 2.0, 2.0, 3.0]
    assert y.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_the_latest_run_is_shown_and_an_earlier_one_dropped():
    old = _trades(40, start_us=T0)
    new = _trades(60, start_us=T0 + 3_600 * results.US_PER_S)
    trades = pd.concat([old, new], ignore_index=True)
    late = T0 + 3_600 * results.US_PER_S
    candles = _rows(CANDLES_COLUMNS, [T0 + 500_000] * 3 + [late + 500_000] * 4)
    features = _rows(BOOK_FEATURES_COLUMNS, [T0 + 500_000] * 3 + [late + 500_000] * 3)
    choice = runs.choose_run({"trades": trades, "candles": candles, "book_features": features})
    assert choice.note == ""
    assert len(choice.frames["trades"]) == 60 and len(choice.frames["candles"]) == 4
    assert choice.frames["candles"]["produced_ts_us"].min() == late + 500_000


def _rows(columns, produced: list[int]) -> pd.DataFrame:
    return pd.DataFrame({c: [1] * len(produced) for c in columns}).assign(produced_ts_us=produced)


def test_after_a_failed_run_the_latest_complete_run_is_shown_and_the_failure_described():
    late = T0 + 3_600 * results.US_PER_S
    trades = pd.concat([_trades(60, start_us=T0), _trades(30, start_us=late)], ignore_index=True)
    # The processor died in the latest run: no candles or features after `late`.
    candles = _rows(CANDLES_COLUMNS, [T0 + 1_000_000] * 5)
    features = _rows(BOOK_FEATURES_COLUMNS, [T0 + 1_000_000] * 5)
    choice = runs.choose_run({"trades": trades, "candles": candles, "book_features": features},
                             failures=["processor_market"])
    assert len(choice.frames["trades"]) == 60 and len(choice.frames["candles"]) == 5
    assert "latest run" in choice.note and "0 candles rows (fewer than 3)" in choice.note
    assert "failed component(s): processor_market" in choice.note
    assert "Shown instead: the latest complete run" in choice.note and "60 trades, 5 candles" in choice.note


def test_a_single_short_run_is_shown_as_it_is_and_said_to_be_incomplete():
    trades = _trades(8)
    choice = runs.choose_run({"trades": trades, "candles": None, "book_features": None})
    assert len(choice.frames["trades"]) == 8
    assert "8 trades rows (fewer than 20)" in choice.note and "No earlier complete run" in choice.note


def test_sessions_split_at_a_pause_longer_than_the_gap():
    produced = pd.Series([T0, T0 + 1_000_000, T0 + 200 * results.US_PER_S, T0 + 201 * results.US_PER_S])
    assert runs.session_starts(produced, gap_s=60) == [T0, T0 + 200 * results.US_PER_S]
    assert runs.session_starts(pd.Series([], dtype=float)) == []


def test_message_rates_per_component_on_one_clock():
    trades = _trades(50, step_us=100_000)  # 10 per second for 5 s
    features = pd.DataFrame({c: [1] * 5 for c in BOOK_FEATURES_COLUMNS}).assign(
        window_start_us=T0 + np.arange(5) * results.US_PER_S,
        snapshot_count=4,
        produced_ts_us=T0 + np.arange(1, 6) * results.US_PER_S,
        written_ts_us=T0 + np.arange(1, 6) * results.US_PER_S + 1_000,
    )
    rates = results.message_rates({"trades": trades, "candles": None, "book_features": features})
    by = {name: part for name, part in rates.groupby("component")}
    assert set(by) == {"trade generator", "trades sink", "order-book generator", "market processor", "candles sink"}
    assert by["trade generator"]["rate_per_s"].iloc[:5].tolist() == [10.0] * 5
    assert by["order-book generator"]["rate_per_s"].tolist()[:5] == [4.0] * 5
    # the processor's first feature is produced 1 s after t0: its timeline starts there
    assert by["market processor"]["t_s"].iloc[0] == 1.0
    means = results.mean_rates(rates)
    assert means["trade generator"] == pytest.approx(10.0)


def test_message_rates_without_data_is_an_empty_table():
    rates = results.message_rates({"trades": None, "candles": None, "book_features": None})
    assert rates.empty and list(rates.columns) == ["component", "t_s", "rate_per_s", "drain"]


def test_load_all_reads_the_sink_files_written_with_the_sink_columns(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _trades(10).to_csv(data / "trades.csv", index=False)
    loaded = results.load_all(tmp_path)
    assert len(loaded.trades) == 10 and loaded.candles is None
    assert list(loaded.trades.columns) == list(TRADES_COLUMNS)


def test_component_runs_read_papermill_metadata(tmp_path):
    import nbformat
    from nbformat.v4 import new_notebook

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    nb = new_notebook()
    nb.metadata["papermill"] = {"parameters": {"rate_hz": 50.0, "serializer": "avro", "stop_file": "/x.stop"},
                                "start_time": "2025-01-06T14:30:00+00:00", "duration": 21.5, "exception": None}
    nbformat.write(nb, runs_dir / "generator_trades.ipynb")
    (runs_dir / "processor_market.ipynb").write_text("{not json")  # half-written: skipped
    table = runs.component_runs(tmp_path)
    assert table["component"].tolist() == ["generator_trades"]
    row = table.iloc[0]
    assert row["parameters"] == "rate_hz=50.0, serializer=avro" and row["duration_s"] == 21.5 and not row["failed"]
    assert runs.component_runs(tmp_path / "nothing") is None
    assert runs.failed_components(tmp_path) == []
