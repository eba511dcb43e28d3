"""What tests share: one producer helper, one topic reader, one CSV row reader, one bounded wait,
and oracles that recompute candles and book features with plain arithmetic.

The oracles are deliberately independent of kafkalab.core.windowing (no CandleBuilder, no
BookFeaturesBuilder): a test comparing the pipeline's output with them checks the arithmetic,
not only that the same code gives the same answer twice.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, is_dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from kafkalab.core import serde
from kafkalab.core.models import Record

WINDOW_US = 1_000_000
ROOT = Path(__file__).resolve().parents[1]
PAPERMILL_TIMEOUT_S = 200  # kernel start-up on a busy 2-core machine
REL_TOL = 1e-9  # sums of floats in another order differ in the last bits, nothing more


# ---- Kafka -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Raw:
    """A record produced as given bytes (a corrupt payload, odd headers); `topic` "" = produce()'s."""

    value: bytes | None
    headers: list | None = None
    key: bytes | None = b"BTC"
    topic: str = ""


def produce(bootstrap: str, topic: str, items: Iterable[Record | Raw], fmt: str = "json",
            **producer_settings) -> list[tuple[str, int, int]]:
    """Produce `items` in order (records encoded with `fmt`, keyed by symbol) and wait until every
    one is acknowledged; returns (topic, partition, offset) per item, in item order."""
    from kafkalab.transports.kafka import clients  # here, so the core's unit tests load no client library

    items = list(items)
    placed: list[tuple[str, int, int] | None] = [None] * len(items)
    errors = []
    with clients.producer(bootstrap, **producer_settings) as producer:
        for index, item in enumerate(items):
            if isinstance(item, Raw):
                target, key, value, headers = item.topic or topic, item.key, item.value, item.headers
            else:
                target, key = topic, item.symbol.encode()
                value, headers = serde.encode(item, fmt)

            def done(err, msg, index=index):
                if err is not None:
                    errors.append((index, err))
                else:
                    placed[index] = (msg.topic(), msg.partition(), msg.offset())
            producer.produce(target, key=key, value=value, headers=headers or [], on_delivery=done)
            producer.poll(0)
        assert producer.flush(60) == 0, "records still unacknowledged after 60 s"
    assert not errors, errors[:3]
    return placed  # every slot filled: no error and nothing left in the queue


def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60.0, settle_s: float = 2.0) -> list:
    """Every committed record of a topic from its start: waits for `expect` of them, then `settle_s`
    more so that extras (duplicates) show up too."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from kafkalab.transports.kafka import clients

    with clients.consumer(bootstrap, f"reader-{topic}-{time.monotonic_ns()}") as consumer:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        records, deadline, settled = [], time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            records += [m for m in consumer.consume(500, 0.2) if m.error() is None]
            if len(records) >= expect:
                settled = settled or time.monotonic() + settle_s
                if time.monotonic() >= settled:
                    break
        return records


def decoded(messages: Iterable) -> list[Record]:
    return [serde.decode(m.value(), m.headers()) for m in messages]


# ---- files and waiting ---------------------------------------------------------------------

def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV as dicts of strings; a file not there yet has none."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def rows_in(path: Path) -> int:
    """How many data rows a CSV has (lines after the header), without parsing it; 0 if not there yet."""
    try:
        return max(0, Path(path).read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, step_s: float = 0.1):
    """Wait until `condition()` is truthy and return that value; fail naming `what` after
    `timeout_s` (a generous bound, never a fixed sleep: a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(step_s)
    return value


# ---- notebooks -------------------------------------------------------------------------------

def papermill(notebook: str, out: Path, **params) -> subprocess.CompletedProcess:
    """Run notebooks/<notebook> headless; text parameters are passed raw (-r), others parsed (-p).
    The parameters cell must parse whole and know every name passed: papermill only warns."""
    args = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / notebook), str(out),
            "--log-output", "--no-progress-bar"]
    for name, value in params.items():
        args += ["-r", name, value] if isinstance(value, str) else ["-p", name, str(value)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=PAPERMILL_TIMEOUT_S, cwd=ROOT,
                         stdin=subprocess.DEVNULL)
    assert "Unable to parse line" not in run.stderr and "Passed unknown parameter" not in run.stderr, \
        run.stderr[-2000:]
    return run


# ---- oracles ---------------------------------------------------------------------------------

def _fields(row: Mapping[str, Any] | Record) -> Mapping[str, Any]:
    return asdict(row) if is_dataclass(row) else row


def candles_from_trades(rows: Iterable[Mapping[str, Any] | Record], window_us: int = WINDOW_US) -> dict:
    """{(symbol, window_start_us): {open, high, low, close, volume, vwap, trade_count}} from trades
    (trades.csv rows or Trade records): open/close are the first/last trade by (event time, trade_id)."""
    windows = defaultdict(list)
    for row in map(_fields, rows):
        ts = int(row["event_ts_us"])
        windows[(row["symbol"], ts - ts % window_us)].append(
            ((ts, int(row["trade_id"])), float(row["price"]), float(row["size"])))
    candles = {}
    for key, trades in windows.items():
        trades.sort()
        prices = [price for _, price, _ in trades]
        volume = sum(size for _, _, size in trades)
        candles[key] = {"open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
                        "volume": volume, "vwap": sum(price * size for _, price, size in trades) / volume,
                        "trade_count": len(trades)}
    return candles


def _decimal(price: float) -> Decimal:
    return Decimal(repr(price))  # the price as written (on its tick), not the binary float's expansion


def book_features_from_books(books: Iterable[Mapping[str, Any] | Record], window_us: int = WINDOW_US) -> dict:
    """{(symbol, window_start_us): {mid_price, spread, imbalance, snapshot_count, last_sequence}}:
    the mid of the last snapshot by (event time, sequence), the mean spread, the mean depth imbalance.
    A book's mid and spread are exact decimals of its prices (no float noise: 182.85, not 182.85000000000002)."""
    windows = defaultdict(list)
    for book in map(_fields, books):
        ts = int(book["event_ts_us"])
        windows[(book["symbol"], ts - ts % window_us)].append(((ts, int(book["sequence"])), book))
    features = {}
    for key, snapshots in windows.items():
        snapshots.sort(key=lambda item: item[0])
        spreads, imbalances = [], []
        for _, book in snapshots:
            best_bid, best_ask = book["bids"][0]["price"], book["asks"][0]["price"]
            spreads.append(float(_decimal(best_ask) - _decimal(best_bid)))
            bid_depth = sum(level["size"] for level in book["bids"])
            ask_depth = sum(level["size"] for level in book["asks"])
            imbalances.append((bid_depth - ask_depth) / (bid_depth + ask_depth))
        last = snapshots[-1][1]
        mid = (_decimal(last["bids"][0]["price"]) + _decimal(last["asks"][0]["price"])) / 2
        features[key] = {"mid_price": float(mid),
                         "spread": sum(spreads) / len(spreads), "imbalance": sum(imbalances) / len(imbalances),
                         "snapshot_count": len(snapshots), "last_sequence": snapshots[-1][0][1]}
    return features


def _window_key(row: Mapping[str, Any]) -> tuple[str, int]:
    return row["symbol"], int(row["window_start_us"])


def assert_match(got: Iterable[Mapping[str, Any] | Record], expected: dict, what: str = "window") -> None:
    """Every window once, none missing or extra, and each value equal to the oracle's (counts and
    prices exactly; sums and means to REL_TOL). `got`: candles.csv / book_features.csv rows or records."""
    rows = [_fields(r) for r in got]
    keys = [_window_key(r) for r in rows]
    assert len(keys) == len(set(keys)), f"a {what} was written twice"
    by_key = dict(zip(keys, rows))
    assert set(by_key) == set(expected), (f"{what}s missing: {sorted(set(expected) - set(by_key))[:5]}, "
                                          f"extra: {sorted(set(by_key) - set(expected))[:5]}")
    for key, want in expected.items():
        have = by_key[key]
        for name, value in want.items():
            if isinstance(value, int):
                assert int(have[name]) == value, (key, name, have[name], value)
            elif name in ("volume", "vwap", "spread", "imbalance"):
                assert math.isclose(float(have[name]), value, rel_tol=REL_TOL, abs_tol=1e-12), (key, name)
            else:
                assert float(have[name]) == value, (key, name, have[name], value)


# ---- benchmarks --------------------------------------------------------------------------------

def assert_nothing_lost_after_one_kill(rows: list[dict], transport: str) -> None:
    """The rows of bench.transports.loss_under_consumer_kill: the trades sink was killed once, mid-run,
    and restarted, and every trade the broker acknowledged is in trades.csv exactly once."""
    assert {r["metric"]: r["value"] for r in rows} == {"lost_under_consumer_kill": 0,
                                                      "duplicates_under_consumer_kill": 0}, rows
    row = rows[0]
    assert row["transport"] == transport and row["restarts"] == 1, row
    assert row["acknowledged"] == row["stored"] > row["killed_after_rows"] >= 2_000, row
