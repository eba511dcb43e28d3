"""Bad input against the real processor and sinks: parked with a reason, counted, nothing stops.

On fresh topics, good trades and order books are interleaved with bad
records of every kind we could think of (malformed bytes, valid encodings of the wrong
schema, missing fields, absurd values, oversized payloads, missing/unknown headers);
the candles topic gets a few bad records of its own between the processor's results.
Then the market processor, the trades sink and the candles sink run in-process (one
thread each, bounded) until everything is through, and we check:

- every bad record is in the dead-letter topic exactly once per component that must
  refuse it, with a one-line `dlq.reason` naming the problem and the source
  topic/partition/offset, and each component's `dead_letters` counter agrees;
- the components kept running (no exception; they stopped only when told to);
- every good record around the bad ones reached the output: trades.csv holds exactly the
  good trades, candles.csv the candles and book_features.csv the book features recomputed
  from the good records with plain arithmetic (tests/helpers.py).

Oversized records are also tried on the producer side: what does the producer say when
a record is over the producer's or the topic's size limit (a clear error, not a silent
drop), and what does the trade generator report then.

The decoders are fuzzed with hypothesis in tests/unit/core/test_serde.py; not repeated here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass

import msgpack
import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab import config as lab_config
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.transports.kafka.deadletters import H_COMPONENT, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC
from kafkalab.core.market import DEFAULT_SYMBOLS, MarketSimulator
from kafkalab.transports.kafka.generator import GeneratorError, TradeGenerator
from kafkalab.core.models import Candle, OrderBook, Trade, now_us
from kafkalab.transports.kafka.processor import MarketProcessor, Topics
from kafkalab.core.serde.codecs import avro_encode
from kafkalab.core.csvstore import candles_targets
from kafkalab.transports.kafka.sink import CandlesCsvSink, SinkSettings, TradesCsvSink, trades_target

from helpers import Raw, assert_match, book_features_from_books, candles_from_trades, produce, read_rows, wait_for

pytestmark = pytest.mark.timeout(300)

PROCESSOR, TRADES_SINK, CANDLES_SINK = "processor", "sink-trades-csv", "sink-candles-csv"
CONTENT = {"json": b"application/json", "msgpack": b"application/msgpack", "avro": b"application/avro"}
RUN_LIMIT_S = 150  # the components' own bound: a hang ends here, not in CI's timeout


def hdrs(fmt: str = "json", mtype: str = "trade", version: bytes = b"1") -> list[tuple[str, bytes]]:
    return [("content-type", CONTENT[fmt]), ("message-type", mtype.encode()), ("schema-version", version)]


@dataclass(frozen=True)
class Bad:
    label: str
    topic: str  # "trades" | "orderbooks" | "candles" (which of the test's topics)
    value: bytes | None
    headers: list | None
    reason: str  # expected in dlq.reason (case-insensitive); "" = any one-line reason
    rejected_by: tuple[str, ...]


# ---- the data ----------------------------------------------------------------------------

def good_trades(base_us: int) -> list[Trade]:
    """60 trades of 3 symbols, 50 ms apart, in event-time order, all well in the past."""
    sim = MarketSimulator(DEFAULT_SYMBOLS[:3], seed=11)
    return [sim.next_trade(base_us + i * 50_000, now_us()) for i in range(60)]


def good_books(base_us: int) -> list[OrderBook]:
    sim = MarketSimulator(DEFAULT_SYMBOLS[:2], seed=11)
    return [sim.next_book(base_us + i * 200_000, now_us()) for i in range(14)]


def bad_trades(t: Trade) -> list[Bad]:
    """Bad records for the trades topic; `t` is a valid trade to mutate."""
    wire = t.to_record()
    both = (PROCESSOR, TRADES_SINK)
    js = lambda d: json.dumps(d).encode()  # noqa: E731 - json.dumps writes NaN/Infinity literals
    mp = lambda d: msgpack.packb(d, use_bin_type=True)  # noqa: E731
    good_json = js(wire)
    book = MarketSimulator(DEFAULT_SYMBOLS[:1], seed=3).next_book(t.event_ts_us, t.produced_ts_us)
    book_payload, book_headers = serde.encode(book, "json")
    cases = [
        # first, so that their event time is not late for the partition they land in
        # valid for the model (within an hour), but it would drag the processor's watermark
        # ahead: the processor refuses it, the raw-archive sink keeps it
        Bad("event time 30 s ahead", "trades", js(wire | {"event_ts_us": now_us() + 30_000_000,
                                                          "trade_id": 10_000_001}),
            hdrs("json"), "ahead of the record's Kafka timestamp", (PROCESSOR,)),
        # a line break in the symbol would split a CSV row and a log line: a control
        # character, refused by model validation, so by every consumer of the trades
        Bad("line break in the symbol", "trades", js(wire | {"symbol": "BT\nC", "trade_id": 10_000_002}),
            hdrs("json"), "symbol contains a control character", both),
        # malformed bytes
        Bad("garbage bytes as json", "trades", b"\xff\xfe{not json at all", hdrs("json"), "corrupt json", both),
        Bad("garbage bytes as msgpack", "trades", b"\xc1\xc1\xc1\xc1", hdrs("msgpack"), "corrupt msgpack", both),
        Bad("truncated avro", "trades", avro_encode(wire, "trade")[:7], hdrs("avro"), "corrupt avro", both),
        Bad("random bytes as avro", "trades", random.Random(5).randbytes(64), hdrs("avro"), "", both),
        Bad("json with trailing bytes", "trades", good_json + b"}}", hdrs("json"), "corrupt json", both),
        Bad("empty value", "trades", b"", hdrs("json"), "corrupt json", both),
        Bad("tombstone", "trades", None, hdrs("json"), "tombstone", both),
        # a valid encoding of the wrong schema
        Bad("json of another shape", "trades", js({"foo": 1, "bar": [1, 2]}), hdrs("json"), "trade", both),
        Bad("json array", "trades", js([1, 2, 3]), hdrs("json"), "trade", both),
        Bad("an order book labelled a trade", "trades", book_payload, hdrs("json", "trade"), "trade", both),
        Bad("an order book on the trades topic", "trades", book_payload, book_headers, "expected", both),
        Bad("avro order book labelled a trade", "trades", serde.encode(book, "avro")[0], hdrs("avro"), "", both),
        Bad("price as a string", "trades", js(wire | {"price": "101.5"}), hdrs("json"), "price", both),
        Bad("event time as a float", "trades", mp(wire | {"event_ts_us": 1.7e15}), hdrs("msgpack"), "event_ts_us", both),
        # missing fields
        Bad("no price", "trades", js({k: v for k, v in wire.items() if k != "price"}), hdrs("json"), "price", both),
        Bad("symbol only", "trades", mp({"symbol": "AAPL"}), hdrs("msgpack"), "trade", both),
        # absurd values
        Bad("negative size", "trades", mp(wire | {"size": -3.0}), hdrs("msgpack"), "size", both),
        Bad("zero price", "trades", js(wire | {"price": 0.0}), hdrs("json"), "price", both),
        Bad("NaN price (json)", "trades", js(wire | {"price": float("nan")}), hdrs("json"), "", both),
        Bad("NaN price (msgpack)", "trades", mp(wire | {"price": float("nan")}), hdrs("msgpack"), "price", both),
        Bad("NaN price (avro)", "trades", avro_encode(wire | {"price": float("nan")}, "trade"), hdrs("avro"),
            "price", both),
        Bad("infinite size", "trades", mp(wire | {"size": float("inf")}), hdrs("msgpack"), "size", both),
        Bad("negative trade id", "trades", js(wire | {"trade_id": -1}), hdrs("json"), "trade_id", both),
        Bad("side 'hold'", "trades", js(wire | {"side": "hold"}), hdrs("json"), "side", both),
        Bad("empty symbol", "trades", js(wire | {"symbol": ""}), hdrs("json"), "symbol", both),
        Bad("100-character symbol", "trades", js(wire | {"symbol": "X" * 100}), hdrs("json"), "symbol", both),
        Bad("event time 2 days ahead", "trades", js(wire | {"event_ts_us": now_us() + 2 * 86_400_000_000}),
            hdrs("json"), "future", both),
        Bad("event time in 1970", "trades", js(wire | {"event_ts_us": 1_000}), hdrs("json"), "past", both),
        Bad("event time 2^63", "trades", mp(wire | {"event_ts_us": 2**63 - 1}), hdrs("msgpack"), "", both),
        # oversized: over the decoders' limit, and near Kafka's own 1 MB limit
        Bad("300 KB payload", "trades", good_json + b" " * 300_000, hdrs("json"), "byte limit", both),
        Bad("990 KB payload", "trades", random.Random(9).randbytes(990_000), hdrs("msgpack"), "byte limit", both),
        # missing and unknown headers
        Bad("no headers", "trades", good_json, None, "missing header", both),
        Bad("no message-type header", "trades", good_json, hdrs("json")[::2], "message-type", both),
        Bad("unknown content-type", "trades", good_json, [("content-type", b"application/xml")] + hdrs()[1:],
            "content-type", both),
        Bad("unknown message-type", "trades", good_json, hdrs("json", "quote"), "message-type", both),
        Bad("schema-version 99", "trades", good_json, hdrs("json", version=b"99"), "schema-version", both),
        Bad("non-ASCII header", "trades", good_json, [("content-type", "appl\u00efcation/json".encode())] + hdrs()[1:],
            "content-type", both),
        Bad("header without a value", "trades", good_json, [("content-type", None)] + hdrs()[1:], "content-type",
            both),
        Bad("json bytes labelled msgpack", "trades", good_json, hdrs("msgpack"), "", both),
    ]
    return cases


def bad_books(b: OrderBook) -> list[Bad]:
    wire = b.to_record()
    js = lambda d: json.dumps(d).encode()  # noqa: E731
    crossed = wire | {"bids": [{"price": wire["asks"][0]["price"] + 1, "size": 1.0, "orders": 1}]}
    trade_payload, trade_headers = serde.encode(Trade("AAPL", 1, 1.0, 1.0, "buy", b.event_ts_us, b.event_ts_us), "json")
    only = (PROCESSOR,)
    return [
        Bad("crossed book", "orderbooks", js(crossed), hdrs("json", "orderbook"), "crossed", only),
        Bad("empty bid side", "orderbooks", js(wire | {"bids": []}), hdrs("json", "orderbook"), "empty side", only),
        Bad("asks out of order", "orderbooks", js(wire | {"asks": wire["asks"][::-1]}), hdrs("json", "orderbook"),
            "ascending", only),
        Bad("levels as strings", "orderbooks", js(wire | {"bids": ["1.0@5"]}), hdrs("json", "orderbook"), "", only),
        Bad("no venue", "orderbooks", js({k: v for k, v in wire.items() if k != "venue"}), hdrs("json", "orderbook"),
            "venue", only),
        Bad("negative level size", "orderbooks",
            msgpack.packb(wire | {"asks": [{"price": 1e9, "size": -1.0, "orders": 1}]}, use_bin_type=True),
            hdrs("msgpack", "orderbook"), "size", only),
        Bad("a trade on the orderbooks topic", "orderbooks", trade_payload, trade_headers, "expected", only),
        Bad("garbage avro book", "orderbooks", b"\x02\x00\x00", hdrs("avro", "orderbook"), "", only),
    ]


def bad_candles(c: Candle) -> list[Bad]:
    wire = c.to_record()
    only = (CANDLES_SINK,)
    trade_payload, trade_headers = serde.encode(Trade("AAPL", 1, 1.0, 1.0, "buy", c.event_ts_us, c.event_ts_us), "json")
    return [
        Bad("garbage on candles", "candles", b"\x00\x01\x02", hdrs("json", "candle"), "corrupt", only),
        Bad("high below low", "candles", json.dumps(wire | {"high": 1.0, "low": 2.0}).encode(),
            hdrs("json", "candle"), "low..high", only),
        Bad("a trade on the candles topic", "candles", trade_payload, trade_headers, "expected a candle", only),
        Bad("candle without headers", "candles", serde.encode(c, "json")[0], [], "missing header", only),
    ]


# ---- producing and reading -------------------------------------------------------------

def read_dead_letters(bootstrap: str, topic: str, group: str, expected: int, timeout_s: float = 60) -> list:
    # linger: anything beyond what was expected must show up too
    return clients.read_messages(bootstrap, group, [topic], expected, timeout_s, linger_s=2.0)


class InThread:
    """A component's loop in a thread (no signal handlers there); stop() ends it cleanly."""

    def __init__(self, component):
        self.component = component
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=component.name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            run_loop(self.component, Bounds(max_seconds=RUN_LIMIT_S))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def stop(self) -> None:
        self.component.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), f"{self.component.name} did not stop"


# ---- the test ------------------------------------------------------------------------------

WINDOW = 1_000_000


@pytest.mark.slow
def test_bad_records_are_parked_counted_and_the_good_ones_go_through(bootstrap, new_topic, unique_name, tmp_path,
                                                                    record_property):
    names = {"trades": new_topic(2, prefix="bi-trades"), "orderbooks": new_topic(2, prefix="bi-books"),
             "candles": new_topic(1, prefix="bi-candles"), "book-features": new_topic(1, prefix="bi-features"),
             "dead-letters": new_topic(1, prefix="bi-dlq")}
    base = now_us() - 8_000_000  # the good records lie in the recent past, in event-time order
    trades, books = good_trades(base), good_books(base)
    candle = Candle("ZZZ", base - 60 * WINDOW, base - 59 * WINDOW, 1.0, 2.0, 0.5, 1.5, 9.0, 1.2, 3,
                    base - 59 * WINDOW, now_us())
    bad = bad_trades(trades[0]) + bad_books(books[0]) + bad_candles(candle)

    # Interleave: each bad record sits between good records of the same partition (same key).
    items = []
    queues = {"trades": [b for b in bad if b.topic == "trades"], "orderbooks": [b for b in bad if b.topic == "orderbooks"]}
    for kind, good in (("trades", trades), ("orderbooks", books)):
        step = max(1, len(good) // (len(queues[kind]) + 1))
        for i, record in enumerate(good):
            payload, headers = serde.encode(record, ("json", "msgpack", "avro")[i % 3])
            items.append((names[kind], record.symbol.encode(), payload, headers, ("good", record)))
            if queues[kind] and i % step == 0:
                b = queues[kind].pop(0)
                items.append((names[kind], record.symbol.encode(), b.value, b.headers, ("bad", b)))
        for b in queues[kind]:  # any left: at the end, before a last good record
            items.insert(len(items) - 1, (names[kind], good[-1].symbol.encode(), b.value, b.headers, ("bad", b)))
    for b in (x for x in bad if x.topic == "candles"):
        items.append((names["candles"], b"ZZZ", b.value, b.headers, ("bad", b)))
    placed = produce(bootstrap, "", [Raw(value, headers, key, topic) for topic, key, value, headers, _ in items])
    assert len(placed) == len(items)
    # the "30 s ahead" trade is valid for one of the two trade consumers (the raw-archive sink)
    where = {item[4][1].label: place for item, place in zip(items, placed) if item[4][0] == "bad"}

    config = lab_config.load(bootstrap_servers=bootstrap, serializer="json")
    data_dir = tmp_path / "data"
    processor = MarketProcessor(config, group_id=unique_name("bi-proc"), topics=Topics(
        names["trades"], names["orderbooks"], names["candles"], names["book-features"], names["dead-letters"]),
        idle_timeout_ms=3000)
    trades_sink = TradesCsvSink(SinkSettings(bootstrap, unique_name("bi-st"), (trades_target(data_dir, names["trades"]),),
                                             names["dead-letters"]))
    candles_sink = CandlesCsvSink(SinkSettings(bootstrap, unique_name("bi-sc"),
                                               candles_targets(data_dir, names["candles"], names["book-features"]),
                                               names["dead-letters"]))
    want_candles, want_features = candles_from_trades(trades), book_features_from_books(books)
    expected_dead = Counter(c for b in bad for c in b.rejected_by)
    running = [InThread(c) for c in (processor, trades_sink, candles_sink)]
    try:
        def done() -> bool:
            assert all(r.thread.is_alive() for r in running), [(r.component.name, r.error) for r in running]
            return (len(read_rows(data_dir / "trades.csv")) >= len(trades) + 1
                    and len(read_rows(data_dir / "candles.csv")) >= len(want_candles)
                    and len(read_rows(data_dir / "book_features.csv")) >= len(want_features)
                    and all(r.component.counters["dead_letters"] >= expected_dead[n]
                            for r, n in zip(running, (PROCESSOR, TRADES_SINK, CANDLES_SINK))))
        wait_for(done, RUN_LIMIT_S - 10, "every good record written and every bad one dead-lettered", step_s=0.5)
    finally:
        for r in running:
            r.stop()
    for r in running:
        assert r.error is None, f"{r.component.name} failed: {r.error!r}"

    # -- dead letters: each bad record once per component that must refuse it, with its reason
    counters = {PROCESSOR: processor.counters["dead_letters"], TRADES_SINK: trades_sink.counters["dead_letters"],
                CANDLES_SINK: candles_sink.counters["dead_letters"]}
    assert counters == dict(expected_dead), counters
    letters = read_dead_letters(bootstrap, names["dead-letters"], unique_name("bi-dlq-read"), sum(expected_dead.values()))
    assert len(letters) == sum(expected_dead.values())
    seen = Counter()
    by_place = {}
    for msg in letters:
        h = {k: (v.decode() if v is not None else None) for k, v in msg.headers() if k.startswith("dlq.")}
        key = (h[H_COMPONENT], h[H_TOPIC], int(h[H_PARTITION]), int(h[H_OFFSET]))
        seen[key] += 1
        by_place[key] = h[H_REASON]
        assert h[H_REASON] and "\n" not in h[H_REASON]
    assert max(seen.values()) == 1, "a record was dead-lettered twice by the same component"
    for b in bad:
        topic, partition, offset = where[b.label]
        for component in b.rejected_by:
            reason = by_place.get((component, topic, partition, offset))
            assert reason is not None, f"{b.label!r}: no dead letter from {component}"
            assert b.reason.lower() in reason.lower(), f"{b.label!r} by {component}: {reason}"

    # -- the good records around them all went through
    written = read_rows(data_dir / "trades.csv")
    got = Counter((r["symbol"], int(r["trade_id"])) for r in written)
    assert max(got.values()) == 1
    assert set(got) == {(t.symbol, t.trade_id) for t in trades} | {(trades[0].symbol, 10_000_001)}  # + the "30 s ahead" one
    candles = read_rows(data_dir / "candles.csv")
    assert_match(candles, want_candles, "candle")  # OHLC, volume, VWAP and count of every window
    features = read_rows(data_dir / "book_features.csv")
    assert_match(features, want_features, "book-features window")  # mid, spread, imbalance, count, sequence

    record_property("bad_inputs_tried", len(bad))
    print(f"\nbad inputs tried: {len(bad)} records ({Counter(b.topic for b in bad)}); dead letters {counters}; "
          f"good: {len(trades)} trades, {len(books)} books -> {len(candles)} candles, {len(features)} feature rows")


# ---- oversized records on the producer side -------------------------------------------------

def test_oversized_records_fail_loudly_at_the_producer(bootstrap, new_topic):
    """Over the producer's limit: produce() raises; over the topic's: the delivery report says so."""
    small_limit = new_topic(1, prefix="bi-limit", max_message_bytes=100_000)
    reports = []
    with clients.producer(bootstrap, linger_ms=0) as producer:
        with pytest.raises(KafkaException) as err:
            producer.produce(small_limit, value=os.urandom(1_100_000))  # over message.max.bytes (1 MB)
        assert err.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
        producer.produce(small_limit, value=os.urandom(300_000), on_delivery=lambda e, m: reports.append(e))
        assert producer.flush(30) == 0
        producer.produce(small_limit, value=b"small", on_delivery=lambda e, m: reports.append(e))
        assert producer.flush(30) == 0
    assert len(reports) == 2
    assert reports[0] is not None and reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports[0]
    assert "too large" in reports[0].str().lower()
    assert reports[1] is None, "the producer must still work after refusing one record"


GENERATOR_SCRIPT = """
import json, sys
from kafkalab.pipeline.entry import main
sys.exit(main(["trade-generator", json.dumps({
    "transport": "kafka", "bootstrap_servers": sys.argv[1], "serializer": "json", "streams": {"trades": sys.argv[2]},
    "rate_hz": 200, "max_seconds": 30, "max_messages": 20})]))
"""


def test_trade_generator_reports_records_the_broker_refuses_and_fails_when_none_got_through(bootstrap, new_topic,
                                                                                            capsys):
    """A topic that refuses every record: the generator counts each as failed, says why in one line,
    and ends with an error (a process exiting non-zero), not as a run that delivered something."""
    refusing = new_topic(1, prefix="bi-refuse", max_message_bytes=64)  # smaller than any trade batch
    generator = TradeGenerator(lab_config.load(bootstrap_servers=bootstrap, serializer="json"), rate_hz=200,
                               topic=refusing)
    with pytest.raises(GeneratorError) as failed:
        run_loop(generator, Bounds(max_seconds=30, max_messages=20))
    counters = generator.counters.snapshot()
    assert counters["produced"] == 20
    assert counters["acked"] == 0 and counters["failed"] == 20, counters
    assert str(failed.value).startswith("every record failed (20 of 20); last error: record for ")
    assert "MSG_SIZE_TOO_LARGE" in str(failed.value) and "\n" not in str(failed.value)
    lines = [l for l in capsys.readouterr().out.splitlines() if "not delivered" in l]
    assert lines and "MSG_SIZE_TOO_LARGE" in lines[0], lines
    assert "MSG_SIZE_TOO_LARGE" in generator.summary()

    run = subprocess.run([sys.executable, "-c", GENERATOR_SCRIPT, bootstrap, refusing], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-2000:]
    (line,) = run.stderr.strip().splitlines()  # one line a user understands, no traceback
    assert line.startswith("error: every record failed (20 of 20)") and "MSG_SIZE_TOO_LARGE" in line, run.stderr
