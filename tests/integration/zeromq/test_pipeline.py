"""All five components over ZeroMQ: candles equal the ones recomputed from trades.csv."""

from __future__ import annotations

from helpers import read_rows
from tests.integration.zeromq.pipeline import (assert_candle_matches, candles_by_window, drain, recomputed_candles,
                                               run_generators, start_consumers)


def test_every_closed_window_equals_its_recomputation_with_no_gap(lab, zmq_settings, running):
    consumers = start_consumers(lab, zmq_settings, running)
    trades_sent, books_sent = run_generators(lab, zmq_settings, running, seconds=4)
    drain(consumers, trades_sent, books_sent, lab.data_dir)

    counters = {name: r.component.counters.snapshot() for name, r in consumers.items()}
    for name, values in counters.items():
        assert (values["gaps"], values["duplicates"], values["dropped"]) == (0, 0, 0), (name, values)
    assert counters["processor"]["trades"] == trades_sent and counters["processor"]["books"] == books_sent
    assert counters["processor"]["incomplete_windows"] == 0

    written = candles_by_window(lab.data_dir / "candles.csv")
    expected = recomputed_candles(lab.data_dir)
    assert written.keys() == expected.keys() and len(written) >= 6
    for window, row in written.items():
        assert_candle_matches(row, expected[window])
    features = read_rows(lab.data_dir / "book_features.csv")
    assert sum(int(r["snapshot_count"]) for r in features) == books_sent
    assert {r["transport"] for r in features} == {"zeromq"}
