"""Serializers benchmark: what MessagePack and Avro buy over JSON, per message type.

`kafkalab bench serializers [--quick]` appends to results/bench/serializers.csv two kinds
of rows (column `kind`), all from one process and one run so formats sit side by side:

kind = "codec" - one row per format x message type (trade, orderbook, candle, book_features):
    messages            distinct realistic messages measured (seeded simulation, see below)
    repeats             timed passes over them; times are the MEDIAN pass / messages
    bytes_per_msg       mean encoded payload size (bytes); bytes_min, bytes_max
    json_size_ratio     bytes_per_msg / the JSON bytes_per_msg of the same type
    encode_us           serde.encode(): message -> wire dict -> payload + headers, per message
    decode_us           serde.decode(): payload + headers -> validated message, per message
                        (includes the shape check of JSON/MessagePack and models validation)
    codec_encode_us     the format alone: wire dict -> bytes
    codec_decode_us     the format alone: bytes -> wire dict (no shape check, no validation)
    <measure>_best_us   the same four, from the fastest pass instead of the median
                        (encode_best_us, decode_best_us, codec_encode_best_us, codec_decode_best_us)
    machine_cpu_percent, load_avg_1m   machine load while the timings ran
kind = "producer" - one row per format x message type x compression x repeat:
    records, payload_bytes   records produced (distinct consecutive trades / order books of
                        the simulation, each sent once), total payload bytes
    seconds             first produce() -> flush() returned with every record acknowledged
                        (encoding included: that is what a generator pays)
    records_per_s, mb_per_s  throughput (MiB/s of payloads)
    stored_bytes_per_record  bytes the topic's partitions take on the brokers per record and
                        replica (log size summed over brokers / replication factor / records):
                        batches after compression, record overhead, key and headers included
    partitions, acks, compression, linger_ms   the producer/topic settings (acks=all, RF 3,
                        min ISR 2, idempotent; a fresh topic per run, deleted afterwards)
    machine_cpu_percent, load_avg_1m   machine load during the run (the box is shared)
Both kinds: format, message_type, quick, msgpack_version, fastavro_version, json_impl,
plus run id, time, machine and client versions (bench.common.append_rows).

Messages come from kafkalab.core.market.MarketSimulator (seeded: the same seed gives the
same messages) at a fixed past date; candles and book features are aggregated from
them over 1-second windows the way the processor does, so every float looks like a real
one (prices on ticks, VWAPs and means with full precision).
"""

from __future__ import annotations

import statistics
import timeit
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import version
from itertools import product
from typing import Callable, Sequence

from tqdm import tqdm

from kafkalab.transports.kafka import clients
from kafkalab.core import serde
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.core.market import MarketSimulator
from kafkalab.core.models import BookFeatures, Candle, OrderBook, Record, Trade
from kafkalab.core.serde.codecs import DECODERS, ENCODERS
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import MIB, LoadProbe, fresh_topic

EXPERIMENT = "serializers"
SEED = 7
BASE_TS_US = 1_736_173_800_000_000  # 2025-01-06 14:30:00 UTC: fixed, so runs see the same messages
WINDOW_US = 1_000_000
PRODUCED_AFTER_US = 150  # produced_ts_us = event time + a plausible producer delay
MESSAGE_TYPES = ("trade", "orderbook", "candle", "book_features")
THROUGHPUT_TYPES = ("trade", "orderbook")
REPLICATION = 3  # the topics' replication factor (fresh_topic's default)  # the two feeds: small and frequent, large and nested


@dataclass(frozen=True)
class Settings:
    messages: int  # distinct messages per type for the codec timings
    repeats: int  # timed passes (median taken)
    throughput_records: dict[str, int]  # records per producer run, by message type
    throughput_repeats: int
    compressions: tuple[str, ...]
    partitions: int = 3


FULL = Settings(1000, 11, {"trade": 100_000, "orderbook": 20_000}, 3, ("lz4", "none"))
QUICK = Settings(40, 3, {"trade": 300, "orderbook": 100}, 1, ("lz4",))


# ---- realistic messages ----------------------------------------------------------------

def feed_messages(mtype: str, n: int, seed: int = SEED) -> list[Record]:
    """n distinct consecutive trades or order books: a producer run sends each once, so lz4
    sees a real feed, not a short list repeated."""
    sim = MarketSimulator(seed=seed)
    return _trades(sim, n) if mtype == "trade" else _books(sim, n)


def sample_messages(n: int, seed: int = SEED) -> dict[str, list[Record]]:
    """n messages of each type, from the seeded market simulation."""
    sim = MarketSimulator(seed=seed)
    # Enough seconds of simulated market that every type gets n messages (6 symbols).
    trades = _trades(sim, 10 * n)
    books = _books(sim, 5 * n)
    samples = {"trade": trades, "orderbook": books, "candle": _candles(trades), "book_features": _book_features(books)}
    short = {k: len(v) for k, v in samples.items() if len(v) < n}
    if short:
        raise LabError(f"the simulation gave too few messages {short} for {n} per type")
    return {k: v[:n] for k, v in samples.items()}


def _trades(sim: MarketSimulator, count: int) -> list[Trade]:
    step_us = 20_000  # 50 trades/s over all symbols: a few per symbol and window
    out = []
    for i in range(count):
        ts = BASE_TS_US + i * step_us
        out.append(sim.next_trade(ts, ts + PRODUCED_AFTER_US))
    return out


def _books(sim: MarketSimulator, count: int) -> list[OrderBook]:
    step_us = 40_000  # 25 snapshots/s round-robin: about 4 per symbol and window
    return [sim.next_book(BASE_TS_US + i * step_us, BASE_TS_US + i * step_us + PRODUCED_AFTER_US) for i in range(count)]


def _windows(records: Sequence[Record]) -> dict[tuple[int, str], list]:
    groups: dict[tuple[int, str], list] = defaultdict(list)
    for r in records:
        groups[(r.event_ts_us // WINDOW_US, r.symbol)].append(r)
    return groups


def _candles(trades: Sequence[Trade]) -> list[Candle]:
    out = []
    for (window, symbol), group in sorted(_windows(trades).items()):
        start, end = window * WINDOW_US, (window + 1) * WINDOW_US
        prices = [t.price for t in group]
        volume = sum(t.size for t in group)
        vwap = sum(t.price * t.size for t in group) / volume
        out.append(Candle(symbol, start, end, prices[0], max(prices), min(prices), prices[-1], volume, vwap,
                          len(group), end, end + PRODUCED_AFTER_US))
    return out


def _book_features(books: Sequence[OrderBook]) -> list[BookFeatures]:
    out = []
    for (window, symbol), group in sorted(_windows(books).items()):
        start, end = window * WINDOW_US, (window + 1) * WINDOW_US
        spreads = [b.asks[0].price - b.bids[0].price for b in group]
        imbalances = []
        for b in group:
            bid, ask = sum(level.size for level in b.bids), sum(level.size for level in b.asks)
            imbalances.append((bid - ask) / (bid + ask))
        last = group[-1]
        out.append(BookFeatures(symbol, start, end, (last.bids[0].price + last.asks[0].price) / 2,
                                statistics.fmean(spreads), statistics.fmean(imbalances), len(group),
                                last.sequence, end, end + PRODUCED_AFTER_US))
    return out


# ---- codec timings --------------------------------------------------------------------

def library_versions() -> dict[str, str]:
    return {"msgpack_version": version("msgpack"), "fastavro_version": version("fastavro"),
            "json_impl": "stdlib json (C accelerated)"}


MEASURES = ("encode_us", "decode_us", "codec_encode_us", "codec_decode_us")


def _works(fmt: str, mtype: str, messages: Sequence[Record]) -> tuple[dict[str, Callable[[], object]], list[int]]:
    """The four timed passes of one format over `messages`, and the payload sizes."""
    encoded = [serde.encode(m, fmt) for m in messages]
    if [serde.decode(p, h) for p, h in encoded] != list(messages):
        raise LabError(f"{fmt} does not round-trip every {mtype}; the serde layer is broken")
    records = [m.to_record() for m in messages]
    payloads = [p for p, _ in encoded]
    encoder, decoder, encode, decode = ENCODERS[fmt], DECODERS[fmt], serde.encode, serde.decode
    works = {
        "encode_us": lambda: [encode(m, fmt) for m in messages],
        "decode_us": lambda: [decode(p, h) for p, h in encoded],
        "codec_encode_us": lambda: [encoder(r, mtype) for r in records],
        "codec_decode_us": lambda: [decoder(p, mtype) for p in payloads],
    }
    return works, [len(p) for p in payloads]


def time_passes(works: dict, repeats: int) -> dict:
    """Seconds of each pass, `repeats` times, interleaved: pass r of every work runs before
    pass r+1 of any, so a change in machine load touches every format alike. timeit turns
    the garbage collector off during each pass, as for any timing."""
    passes: dict = defaultdict(list)
    for _ in range(repeats):
        for key, work in works.items():
            passes[key].append(timeit.Timer(work).timeit(number=1))
    return passes


def codec_rows_for_type(mtype: str, messages: Sequence[Record], repeats: int) -> list[dict]:
    works, sizes = {}, {}
    for fmt in serde.FORMATS:
        fmt_works, sizes[fmt] = _works(fmt, mtype, messages)
        works.update({(fmt, measure): work for measure, work in fmt_works.items()})
    passes = time_passes(works, repeats)
    n = len(messages)
    json_bytes = statistics.fmean(sizes["json"])
    rows = []
    for fmt in serde.FORMATS:
        mean_bytes = statistics.fmean(sizes[fmt])
        rows.append({
            "kind": "codec", "format": fmt, "message_type": mtype, "messages": n, "repeats": repeats,
            "bytes_per_msg": round(mean_bytes, 1), "bytes_min": min(sizes[fmt]), "bytes_max": max(sizes[fmt]),
            "json_size_ratio": round(mean_bytes / json_bytes, 3),
            # the median pass, per message, in microseconds; and the best pass, the one least
            # disturbed by other work on a shared machine
            **{m: round(statistics.median(passes[fmt, m]) / n * 1e6, 3) for m in MEASURES},
            **{f"{m[:-3]}_best_us": round(min(passes[fmt, m]) / n * 1e6, 3) for m in MEASURES},
        })
    return rows


def codec_rows(samples: dict[str, list[Record]], settings: Settings, progress: tqdm) -> list[dict]:
    rows = []
    with LoadProbe() as load:
        for mtype in MESSAGE_TYPES:
            progress.set_postfix_str(f"codec {mtype}")
            rows += codec_rows_for_type(mtype, samples[mtype], settings.repeats)
            progress.update(len(serde.FORMATS))
    return [{**row, **load.columns()} for row in rows]


# ---- producer throughput through the real cluster ---------------------------------------------

def produce_all(bootstrap: str, topic: str, fmt: str, messages: Sequence[Record], compression: str) -> dict:
    """Encode and produce every message once, keyed by symbol; wait for every ack."""
    failures: list[str] = []
    delivered = 0

    def on_delivery(err, _msg) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1
        elif len(failures) < 3:
            failures.append(err.str())

    keys = {m.symbol: m.symbol.encode() for m in messages}
    total_bytes = 0
    with clients.producer(bootstrap, **{"compression.type": compression}) as producer, LoadProbe() as load:
        started = timeit.default_timer()
        for i, message in enumerate(messages):
            payload, headers = serde.encode(message, fmt)
            total_bytes += len(payload)
            while True:
                try:
                    producer.produce(topic, key=keys[message.symbol], value=payload, headers=headers,
                                     on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: serve acks, then retry
                    producer.poll(0.05)
            if i % 1000 == 0:
                producer.poll(0)
        left = producer.flush(60)
        seconds = timeit.default_timer() - started
    records = len(messages)
    if left or failures or delivered != records:
        raise LabError(f"serializer benchmark: {records - delivered} of {records} records to {topic} were not "
                       f"acknowledged ({'; '.join(failures) or 'flush timed out'}); is the cluster healthy?")
    return {"records": records, "payload_bytes": total_bytes, "seconds": round(seconds, 4),
            "records_per_s": round(records / seconds, 1), "mb_per_s": round(total_bytes / MIB / seconds, 3),
            **load.columns()}


def stored_bytes(bootstrap: str, topic: str) -> int:
    """Size of `topic`'s logs summed over every broker (all replicas), from DescribeLogDirs."""
    from kafka.admin import KafkaAdminClient  # confluent-kafka's admin client lacks DescribeLogDirs

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="kafkalab-bench")
    try:
        answers = admin.describe_log_dirs(topic_partitions=[topic])
    finally:
        admin.close()
    return sum(p["partition_size"] for broker in answers for log_dir in broker["log_dirs"]
               for t in log_dir["topics"] if t["name"] == topic for p in t["partitions"])


def producer_row(config: LabConfig, settings: Settings, fmt: str, mtype: str, messages: Sequence[Record],
                 compression: str, repeat: int) -> dict:
    with fresh_topic(config.bootstrap_servers, f"serializers-{fmt}", settings.partitions, REPLICATION) as topic:
        result = produce_all(config.bootstrap_servers, topic, fmt, messages, compression)
        stored = stored_bytes(config.bootstrap_servers, topic)
    return {
        "kind": "producer", "format": fmt, "message_type": mtype, "repeat": repeat,
        "partitions": settings.partitions, "replication_factor": REPLICATION,
        "acks": clients.RELIABLE_PRODUCER["acks"], "compression": compression,
        "linger_ms": clients.RELIABLE_PRODUCER["linger.ms"],
        **result, "stored_bytes_per_record": round(stored / REPLICATION / result["records"], 1),
    }


def throughput_rows(config: LabConfig, settings: Settings, progress: tqdm) -> list[dict]:
    feeds = {mtype: feed_messages(mtype, settings.throughput_records[mtype]) for mtype in THROUGHPUT_TYPES}
    rows = []
    # Repeats outermost and formats innermost: a change in machine load touches every format alike.
    grid = product(range(1, settings.throughput_repeats + 1), settings.compressions, THROUGHPUT_TYPES, serde.FORMATS)
    for repeat, compression, mtype, fmt in grid:
        progress.set_postfix_str(f"produce {fmt} {mtype} {compression} #{repeat}")
        rows.append(producer_row(config, settings, fmt, mtype, feeds[mtype], compression, repeat))
        progress.update()
    return rows


def run(config: LabConfig, quick: bool = False) -> int:
    settings = QUICK if quick else FULL
    clients.require_reachable(config.bootstrap_servers)
    samples = sample_messages(settings.messages)
    steps = len(MESSAGE_TYPES) * len(serde.FORMATS) + (
        settings.throughput_repeats * len(settings.compressions) * len(THROUGHPUT_TYPES) * len(serde.FORMATS))
    with tqdm(total=steps, desc=EXPERIMENT, unit="case") as progress:
        rows = codec_rows(samples, settings, progress)
        rows += throughput_rows(config, settings, progress)
    extra = {"quick": quick, **library_versions()}
    path = config.bench_dir / f"{EXPERIMENT}.csv"
    written = append_rows(path, [{**row, **extra} for row in rows])
    print(f"{EXPERIMENT}: {written} rows appended to {path}")
    return written
