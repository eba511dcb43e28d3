"""The five ZeroMQ components in threads of the test process, and the checks on their CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkalab.core.models import Trade
from kafkalab.core.windowing import candles_of
from kafkalab.runtime.loop import Bounds
from kafkalab.transports.zeromq.generator import ZmqOrderBookGenerator, ZmqTradeGenerator
from kafkalab.transports.zeromq.processor import ZmqMarketProcessor
from kafkalab.transports.zeromq.sink import candles_sink, trades_sink

from helpers import read_rows, wait_for

CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "vwap")


def start_consumers(lab, settings, running) -> dict:
    return {"processor": running(ZmqMarketProcessor(lab, zmq_settings=settings)),
            "trades-sink": running(trades_sink(lab, zmq_settings=settings)),
            "candles-sink": running(candles_sink(lab, zmq_settings=settings))}


def run_generators(lab, settings, running, seconds: float, rate_hz: float = 50) -> tuple[int, int]:
    trades = running(ZmqTradeGenerator(lab, rate_hz=rate_hz, zmq_settings=settings), Bounds(max_seconds=seconds))
    books = running(ZmqOrderBookGenerator(lab, rate_hz=4, zmq_settings=settings), Bounds(max_seconds=seconds))
    trades.join(seconds + 60)
    books.join(seconds + 60)
    return trades.component.counters["produced"], books.component.counters["produced"]


def drain(consumers: dict, trades_sent: int, books_sent: int, data_dir: Path) -> None:
    """Wait until every trade is in trades.csv and every window's result in candles.csv /
    book_features.csv (the processor's idle rule closes the last ones), then stop them all."""
    wait_for(lambda: consumers["trades-sink"].component.counters["written"] >= trades_sent, 60, "trades written")
    windows = set(recomputed_candles(data_dir))
    wait_for(lambda: windows <= set(candles_by_window(data_dir / "candles.csv")), 60, "every window's candle")
    wait_for(lambda: sum(int(r["snapshot_count"]) for r in read_rows(data_dir / "book_features.csv")) >= books_sent,
             60, "every order book in book features")
    for running in consumers.values():
        running.stop()


def trades_from_csv(path: Path) -> list[Trade]:
    return [Trade(r["symbol"], int(r["trade_id"]), float(r["price"]), float(r["size"]), r["side"],
                  int(r["event_ts_us"]), int(r["produced_ts_us"])) for r in read_rows(path)]


def candles_by_window(path: Path) -> dict[tuple[str, int], dict]:
    return {(r["symbol"], int(r["window_start_us"])): r for r in read_rows(path)}


def assert_candle_matches(row: dict, expected) -> None:
    for name in CANDLE_FIELDS:
        assert float(row[name]) == pytest.approx(getattr(expected, name), rel=1e-12), (name, row, expected)
    assert int(row["trade_count"]) == expected.trade_count, (row, expected)


def recomputed_candles(data_dir: Path) -> dict:
    return {(c.symbol, c.window_start_us): c for c in candles_of(trades_from_csv(data_dir / "trades.csv"))}
