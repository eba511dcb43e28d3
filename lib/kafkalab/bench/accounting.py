"""What a pipeline run's files say: acknowledged vs stored trades, candles against an
independent oracle, the trade generator's own counters, and the acknowledgement timeline.

The candle oracle recomputes OHLC, volume and count from trades.csv by itself, so candle
arithmetic is checked, not only the bookkeeping (the processor's CandleBuilder is not used).
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

WINDOW_US = 1_000_000


def read_rows(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def ends_with_complete_line(path: Path) -> bool:
    data = Path(path).read_bytes()
    return data.endswith(b"\n")


@dataclass(frozen=True)
class Tally:
    acked: int
    stored: int
    duplicated: int
    lost: int
    unacked_stored: int


def tally(acked_rows: list[dict], stored_rows: list[dict]) -> Tally:
    """Acknowledged records vs stored rows, by (symbol, trade_id)."""
    acked = {(r["symbol"], int(r["trade_id"])) for r in acked_rows}
    stored = Counter((r["symbol"], int(r["trade_id"])) for r in stored_rows)
    return Tally(acked=len(acked), stored=sum(stored.values()),
                 duplicated=sum(n - 1 for n in stored.values() if n > 1),
                 lost=len(acked - set(stored)), unacked_stored=len(set(stored) - acked))


def recompute_candles(trade_rows: list[dict]) -> dict[tuple[str, int], tuple]:
    """(open, high, low, close, volume, count) per (symbol, 1 s event-time window)."""
    windows: dict[tuple[str, int], list[tuple[int, int, float, float]]] = {}
    for r in trade_rows:
        ts = int(r["event_ts_us"])
        windows.setdefault((r["symbol"], ts - ts % WINDOW_US), []).append(
            (ts, int(r["trade_id"]), float(r["price"]), float(r["size"])))
    out = {}
    for key, items in windows.items():
        items.sort()
        prices = [p for _, _, p, _ in items]
        out[key] = (prices[0], max(prices), min(prices), prices[-1], sum(s for *_, s in items), len(items))
    return out


def candle_mismatches(trade_rows: list[dict], candle_rows: list[dict]) -> list[str]:
    """Windows whose stored candle is missing, doubled or differs from the recomputed one."""
    expected = recompute_candles(trade_rows)
    got = Counter((r["symbol"], int(r["window_start_us"])) for r in candle_rows)
    problems = [f"{k}: {n} candles" for k, n in got.items() if n > 1]
    problems += [f"{k}: no trades for this candle" for k in got if k not in expected]
    problems += [f"{k}: missing candle" for k in expected if k not in got]
    for r in candle_rows:
        key = (r["symbol"], int(r["window_start_us"]))
        if key not in expected:
            continue
        o, h, lo, c, volume, count = expected[key]
        if (float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]), int(r["trade_count"])) != \
                (o, h, lo, c, count) or abs(float(r["volume"]) - volume) > 1e-6 * max(1.0, volume):
            problems.append(f"{key}: stored {r['open']},{r['high']},{r['low']},{r['close']},{r['volume']},"
                            f"{r['trade_count']} != recomputed {expected[key]}")
    return problems


_COUNTERS = re.compile(r"trade-generator: (?P<counters>(?:\w+=-?\d+ ?)+)")


def generator_counters(log_text: str) -> dict[str, int]:
    """The trade generator's last counter line (its summary at the end of a clean run)."""
    found = _COUNTERS.findall(log_text)
    if not found:
        return {}
    return {k: int(v) for k, v in (item.split("=") for item in found[-1].split())}


def generator_errors(log_text: str) -> list[str]:
    """Distinct error lines the trade generator printed (counter lines left out)."""
    lines = [l.strip() for l in log_text.splitlines() if l.startswith("trade-generator:") and not _COUNTERS.match(l)
             and "running (" not in l]
    return list(dict.fromkeys(l for l in lines if re.search(r"error|not delivered|NOT_ENOUGH|fail|unavailable", l, re.I)))


# ---- acknowledgements as they happen --------------------------------------------------------

class AckWatch:
    """Tails the trade generator's acked-records file: when did each partition last see an ack?

    The generator flushes that file every loop step, so a new row appears within
    milliseconds of its acknowledgement; polling every ~0.2 s gives the ack timeline.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0
        self._columns: list[str] | None = None
        self.events: list[tuple[float, int]] = []  # (monotonic time seen, partition)
        self.latencies: list[tuple[float, int, float]] = []  # (time seen, partition, produce-to-ack ms)

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk.rfind(b"\n") + 1
        if not complete:
            return
        self._offset += complete
        now = time.monotonic()
        for line in chunk[:complete].decode().splitlines():
            fields = line.split(",")
            if self._columns is None:
                self._columns = fields
                continue
            partition = int(fields[self._columns.index("position")].split(":")[0])
            self.events.append((now, partition))
            if "acked_ts_us" in self._columns:  # files of older generators lack it
                took_us = int(fields[self._columns.index("acked_ts_us")]) - int(fields[self._columns.index("produced_ts_us")])
                self.latencies.append((now, partition, took_us / 1000))

    def ack_latency_ms(self, partitions: set[int], start: float, end: float) -> float:
        """Median produce-to-ack latency of the acks of `partitions` seen between start and end (0: none)."""
        took = sorted(ms for t, p, ms in self.latencies if start <= t < end and p in partitions)
        return took[len(took) // 2] if took else 0.0

    def partitions(self) -> set[int]:
        return {p for _, p in self.events}

    def all_acked_after(self, since: float, partitions: set[int]) -> float | None:
        """The first time by which every partition in `partitions` had an ack after `since`."""
        first: dict[int, float] = {}
        for t, p in self.events:
            if t > since and p in partitions and p not in first:
                first[p] = t
        return max(first.values()) if partitions and set(first) >= partitions else None

    def per_second(self, start: float, end: float, events: list[tuple[float, str]] = ()) -> list[dict]:
        """One row per second from `start` to `end` (t_s = seconds since start): the acknowledgements
        of all partitions, how many partitions had none, and the `events` ((time, text)) of that second."""
        seconds = max(1, int(end - start) + 1)
        total = [0] * seconds
        per_partition: dict[int, list[int]] = {p: [0] * seconds for p in self.partitions()}
        for t, p in self.events:
            if start <= t < start + seconds:
                total[int(t - start)] += 1
                per_partition[p][int(t - start)] += 1
        named: dict[int, list[str]] = {}
        for t, text in events:
            if start <= t < start + seconds:
                named.setdefault(int(t - start), []).append(text)
        return [{"t_s": i, "acks": total[i],
                 "partitions_silent": sum(1 for counts in per_partition.values() if counts[i] == 0),
                 "event": "; ".join(named.get(i, []))} for i in range(seconds)]

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without any acknowledgement between start and end."""
        times = [start] + [t for t, _ in self.events if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))
