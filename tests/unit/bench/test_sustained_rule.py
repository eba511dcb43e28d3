"""bench transports' sustained rule, on hand-made rows of trades.csv and candles.csv."""

from __future__ import annotations

import pandas as pd

from kafkalab.bench.transports import PACE_S, Rung, midpoint, rung_of

SECOND_US = 1_000_000


def trades(rate_hz: int, seconds: int, delay_us: int, start_us: int = 10 * SECOND_US) -> pd.DataFrame:
    produced = [start_us + i * SECOND_US // rate_hz for i in range(rate_hz * seconds)]
    return pd.DataFrame({"symbol": "AAPL", "trade_id": range(len(produced)), "event_ts_us": produced,
                         "produced_ts_us": produced, "written_ts_us": [p + delay_us for p in produced]})


def candles(seconds: int, delay_us: int, start_us: int = 10 * SECOND_US) -> pd.DataFrame:
    ends = [start_us + (i + 1) * SECOND_US for i in range(seconds)]
    return pd.DataFrame({"window_end_us": ends, "written_ts_us": [e + delay_us for e in ends]})


def test_a_pipeline_that_keeps_pace_is_sustained():
    rung = rung_of(100, 400, trades(100, 4, 2_000), candles(4, 600_000))
    assert (rung.reached_hz, rung.stored, round(rung.trades_p99_s, 3)) == (100.0, 400, 0.002)
    assert rung.shortfall() == ""


def test_a_trade_stored_twice_counts_once_and_a_missing_one_is_a_loss():
    rows = trades(100, 4, 2_000)
    doubled = pd.concat([rows, rows.iloc[:1]])
    assert rung_of(100, 400, doubled, candles(4, 0)).shortfall() == ""
    assert rung_of(100, 401, doubled, candles(4, 0)).shortfall() == "1 of 401 trades not stored"


def test_the_warm_up_is_left_out_of_the_times_but_not_out_of_the_count():
    rows = trades(100, 4, 2_000)
    rows.loc[rows.index[:50], "written_ts_us"] += 5 * SECOND_US  # the first half second waited for a connection
    rung = rung_of(100, 400, rows, candles(4, 0))
    assert rung.stored == 400 and rung.trades_p99_s < PACE_S and rung.shortfall() == ""


def test_each_way_of_falling_behind_is_named():
    assert rung_of(1000, 400, trades(100, 4, 0), candles(4, 0)).shortfall() == "the generator reached 100/s"
    late = rung_of(100, 400, trades(100, 4, 3 * SECOND_US), candles(4, 0))
    assert late.shortfall() == "trades p99 3.00 s after produced"
    stale = rung_of(100, 400, trades(100, 4, 0), candles(4, 4 * SECOND_US))
    assert stale.shortfall() == "candles p99 4.00 s after their window closed"
    assert Rung(100, 100, 0, 0, float("nan"), float("nan")).shortfall().startswith("trades p99")


def test_the_last_windows_closed_by_the_idle_rule_do_not_count_as_falling_behind():
    rows = candles(4, 600_000)
    rows.loc[rows.index[-1], "written_ts_us"] += 3 * SECOND_US  # its window ended with the last trades
    assert rung_of(100, 400, trades(100, 4, 2_000), rows).shortfall() == ""



def test_the_rung_between_lies_between_or_is_not_run():
    assert midpoint(10_000, 20_000) == 14_100 and midpoint(20_000, 50_000) == 31_600
    assert midpoint(0, 1_000) is None  # nothing sustained: nothing to narrow down
    assert midpoint(100, 120) is None  # 110 rounds to 100: no rate in steps of 100/s lies between
