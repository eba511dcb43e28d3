"""ZeroMQ's rows of the shared transports benchmark: `measure(config, quick) -> list[dict]`.

Everything runs on ipc:// endpoints of a private temporary folder (never the lab's
ports) with the real components: the trade generator in this process, each consumer in a
process of its own (multiprocessing "spawn"), stopped through a stop file.

- publish_rate_max: one generator at rate "max" for a few seconds, one counting
  subscriber; the rate is what was handed to ZeroMQ (PUB drops what a slow subscriber
  cannot take: the gaps it counted are a row of their own, gaps_counted).
  publish_rate_per_cpu_s: the same messages per CPU-second of the generator's thread
  (what the code costs, whatever else the machine runs). socket_rate_max (client "pyzmq
  (constant 100 B payload)") sends pre-built envelopes: the ceiling of the socket itself,
  without the simulator and serde (a metric of its own: it is not what a publisher of trades
  reaches, and must not be averaged with it).
- latency_p50_ms / latency_p99_ms at 10 Hz and 1,000/s: generator -> trades sink,
  written_ts_us - produced_ts_us of every row of trades.csv. At 10 Hz also the floor under
  it, bare_socket_latency_p50_ms / _p99_ms: the same hop with nothing but timestamps.
- broker_cpu_pct / broker_rss_mib: 0 - there is no broker process.
- sustained_rate is measured for every transport alike, by kafkalab.bench.transports.
- lost_under_consumer_kill and gaps_counted: the trades sink killed (-9) at 1,000/s for
  about a second and restarted; lost = sent - rows, gaps = what the restarted sink counted.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import zmq

from kafkalab import config as lab_config
from kafkalab.config import LabConfig
from kafkalab.core.models import Trade, now_us
from kafkalab.core.pacing import Pacer
from kafkalab.core.sequence import SequenceTracker
from kafkalab.runtime.params import ComponentParams
from kafkalab.runtime.loop import Bounds, run_loop
from kafkalab.core.streams import TRADES
from kafkalab.transports.zeromq import sockets
from kafkalab.transports.zeromq.addresses import DEFAULT_HWM, STREAMS, ZmqSettings
from kafkalab.transports.zeromq.components import build
from kafkalab.core.csvstore import TRADES_CSV
from kafkalab.transports.zeromq.generator import ZmqTradeGenerator
from kafkalab.transports.zeromq.sockets import meta_block, pack
from kafkalab.transports.zeromq.streams import StreamPublisher, receive_batch, unpack

DURABILITY = "none (at-most-once)"
CLIENT = "pyzmq"
BARE = "bare_socket_latency"  # metrics of the floor: kept apart from the pipeline's latency_* rows
START_TIMEOUT_S = 120.0  # a spawned consumer imports the package first; the machine may be busy


def _settings(socket_dir: Path) -> ZmqSettings:
    return ZmqSettings({s: f"ipc://{socket_dir}/{s}" for s in STREAMS}, subscriber_wait_s=START_TIMEOUT_S)


def _run_component(name: str, results_dir: str, socket_dir: str, stop_file: str) -> None:
    config = lab_config.load(results_dir=results_dir)
    run_loop(build(name, config, ComponentParams(), zmq_settings=_settings(Path(socket_dir))),
             Bounds(stop_file=stop_file))


def _count_messages(address: str, result_file: str, stop_file: str) -> None:
    """A subscriber that only counts: received and gaps (no decoding, no files)."""
    tracker = SequenceTracker()
    received = 0
    with sockets.context() as ctx, sockets.subscriber(ctx, [address], [TRADES], 1_000_000) as sock:
        while not os.path.exists(stop_file):
            for frame in receive_batch(sock, 0.2, 10_000):
                envelope = unpack(frame)
                tracker.note(envelope.producer, envelope.sequence)
                received += 1
    Path(result_file).write_text(json.dumps({"received": received, "gaps": tracker.gaps}))


class _Child:
    """A consumer in its own process, stopped cleanly by a stop file (or killed)."""

    def __init__(self, workdir: Path, target, *args) -> None:
        self.stop_file = workdir / f"stop-{time.monotonic_ns()}"
        self.process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, str(self.stop_file)),
                                                                    daemon=True)
        self.process.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        self.stop_file.touch()
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.kill()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(30)


@contextmanager
def _workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="kl-zmq-bench-", dir="/tmp"))  # short: ipc paths are limited
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _generate(config: LabConfig, settings: ZmqSettings, rate_hz, seconds: float) -> ZmqTradeGenerator:
    generator = ZmqTradeGenerator(config, rate_hz=rate_hz, zmq_settings=settings, subscribers=1)
    run_loop(generator, Bounds(max_seconds=seconds))
    return generator


def _trade_rows(path: Path) -> list[list[str]]:
    lines = path.read_text().split("\n")[1:]
    return [line.split(",") for line in lines if line]


def _wait_rows(path: Path, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (not path.exists() or len(_trade_rows(path)) < count):
        time.sleep(0.1)


def _row(metric: str, value: float, unit: str, setting: str, **extra) -> dict:
    """One long row; `setting` says how it was measured, load_avg_1m how busy the machine was."""
    return {"transport": "zeromq", "metric": metric, "value": round(float(value), 4), "unit": unit,
            "durability": DURABILITY, "client": extra.pop("client", CLIENT), "client_version": zmq.__version__,
            "setting": f"{setting}; ipc://, HWM {DEFAULT_HWM}, msgpack", "load_avg_1m": round(os.getloadavg()[0], 1),
            **extra}


def publish_rate_max(config: LabConfig, seconds: float) -> list[dict]:
    with _workspace() as work:
        settings = _settings(work)
        result = work / "counted.json"
        counter = _Child(work, _count_messages, settings.connect_address(TRADES), str(result))
        cpu_before = time.thread_time()
        generator = _generate(config.with_overrides(results_dir=str(work / "results")), settings, "max", seconds)
        cpu_s = time.thread_time() - cpu_before
        time.sleep(0.5)  # let the counter take what is still in flight before it stops
        counter.stop()
        counted = json.loads(result.read_text()) if result.exists() else {"gaps": -1}
        raw = _raw_publish_rate(work, seconds)
    setting = f"one publisher, one counting subscriber process, {seconds:g} s"
    return [_row("publish_rate_max", generator.reached_rate_hz, "msg/s", setting, client=f"{CLIENT} (trade generator)"),
            # What one CPU-second of the generator's thread sends: on a machine shared by many, the wall-clock
            # rate says how busy it was; this says what the code costs (the goal's "one Python generator").
            _row("publish_rate_per_cpu_s", generator.counters["produced"] / max(cpu_s, 1e-9), "msg/cpu-s", setting,
                 client=f"{CLIENT} (trade generator)"),
            _row("publisher_cpu_pct", 100 * cpu_s / max(generator.elapsed_s, 1e-9), "% of one core", setting,
                 client=f"{CLIENT} (trade generator)"),
            _row("gaps_counted", counted["gaps"], "count", setting, client=f"{CLIENT} (trade generator at max)"),
            _row("socket_rate_max", raw, "msg/s", f"{seconds:g} s, subscriber drained in the same thread",
                 client=f"{CLIENT} (constant 100 B payload)")]


def _raw_publish_rate(work: Path, seconds: float) -> float:
    """The socket's own ceiling: one pre-encoded envelope sent again and again (one subscriber)."""
    address = f"ipc://{work}/raw"
    with sockets.context() as ctx, sockets.publisher(ctx, address, 1_000_000) as pub, \
            sockets.subscriber(ctx, [address], [TRADES], 1_000_000) as sub:
        publisher = StreamPublisher(pub, TRADES, "raw.0.1", "msgpack")
        publisher.wait_for_subscribers(1, 10, lambda: False)
        trade = Trade("AAPL", 1, 190.0, 100.0, "buy", now_us(), now_us())
        publisher.send(trade)  # the subscriber is in this process: the GIL is shared, as a pipeline's are not
        frame = pack(TRADES, 1, meta_block("raw.0.1", []), b"x" * 100)
        send = pub.send
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            for _ in range(1000):
                send(frame)
            sent += 1000
            receive_batch(sub, 0, 1000)
        elapsed = time.monotonic() - start
    return sent / elapsed


def _time_arrivals(address: str, result_file: str, expected: int, stop_file: str) -> None:
    """A bare subscriber: each frame is its send time (ns); keeps arrival - send, no decoding."""
    latencies_ms, stamp_at = [], len(sockets.topic(TRADES))
    with sockets.context() as ctx, sockets.subscriber(ctx, [address], [TRADES], 1_000_000) as sock:
        while len(latencies_ms) < expected and not os.path.exists(stop_file):
            for frame in receive_batch(sock, 0.1, 10_000):
                latencies_ms.append((time.time_ns() - int(frame[stamp_at:])) / 1e6)
    Path(result_file).write_text(json.dumps(latencies_ms))


def bare_socket_latency(rate_hz: float, seconds: float) -> list[dict]:
    """The floor under `latency`: the same XPUB -> SUB hop between two processes at the same rate,
    with no simulator, serde, sequence check or file; what is left is ZeroMQ and two wake-ups."""
    with _workspace() as work:
        address, result = f"ipc://{work}/bare", work / "arrivals.json"
        with sockets.context() as ctx, sockets.publisher(ctx, address, DEFAULT_HWM) as pub:
            count = int(rate_hz * seconds)
            subscriber = _Child(work, _time_arrivals, address, str(result), count)
            StreamPublisher(pub, TRADES, "bare.0.1", "msgpack").wait_for_subscribers(1, START_TIMEOUT_S, lambda: False)
            pacer, sent, prefix = Pacer(rate_hz), 0, sockets.topic(TRADES)
            pacer.start()
            while sent < count:
                due = min(pacer.due(), count - sent)
                for _ in range(due):
                    pub.send(prefix + str(time.time_ns()).encode())
                pacer.sent(due)
                sent += due
                time.sleep(min(pacer.seconds_until_due(), 0.1))
            subscriber.process.join(10.0)  # it ends once it has timed every frame
            subscriber.stop()
        latencies_ms = np.array(json.loads(result.read_text()) if result.exists() else [])
    if not len(latencies_ms):
        return []
    setting = f"bare XPUB -> SUB, another process, no serde or files, {len(latencies_ms)} frames in {seconds:g} s"
    return _percentile_rows(BARE, latencies_ms, setting, rate_hz, client=f"{CLIENT} (bare socket, the floor)")


def latency(config: LabConfig, rate_hz: float, seconds: float) -> list[dict]:
    with _workspace() as work:
        results = work / "results"
        sink = _Child(work, _run_component, "trades-sink", str(results), str(work))
        generator = _generate(config.with_overrides(results_dir=str(results)), _settings(work), rate_hz, seconds)
        _wait_rows(results / "data" / TRADES_CSV, generator.counters["produced"])
        sink.stop()
        rows = _trade_rows(results / "data" / TRADES_CSV)
    # columns: ..., event_ts_us, produced_ts_us, written_ts_us, transport, position
    latencies_ms = np.array([(int(r[-3]) - int(r[-4])) / 1000 for r in rows])
    if not len(latencies_ms):
        return []
    setting = f"generator -> trades sink process, written - produced, {len(latencies_ms)} trades in {seconds:g} s"
    return _percentile_rows("latency", latencies_ms, setting, rate_hz)


def _percentile_rows(prefix: str, latencies_ms: np.ndarray, setting: str, rate_hz: float, **extra) -> list[dict]:
    return [_row(f"{prefix}_p{q}_ms", np.percentile(latencies_ms, q), "ms", setting, rate_hz=rate_hz, **extra)
            for q in (50, 99)]


def loss_under_consumer_kill(config: LabConfig, rate_hz: float = 1000.0) -> list[dict]:
    with _workspace() as work:
        results, settings = work / "results", _settings(work)
        csv_path = results / "data" / TRADES_CSV
        sink = _Child(work, _run_component, "trades-sink", str(results), str(work))
        generator = ZmqTradeGenerator(config.with_overrides(results_dir=str(results)), rate_hz=rate_hz,
                                      zmq_settings=settings, subscribers=1)
        thread = threading.Thread(target=run_loop, args=(generator,), daemon=True)
        thread.start()
        _wait_rows(csv_path, int(rate_hz), timeout_s=START_TIMEOUT_S)
        sink.kill()
        killed_at = generator.counters["produced"]
        while generator.counters["produced"] < killed_at + rate_hz:  # about a second without a consumer
            time.sleep(0.05)
        restarted = _Child(work, _run_component, "trades-sink", str(results), str(work))
        restarted_at = generator.counters["produced"]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not any(int(r[-1].rpartition(":")[2]) > restarted_at
                                                      for r in _trade_rows(csv_path)[-5:]):
            time.sleep(0.1)
        generator.stop()
        thread.join(60)
        sent = generator.counters["produced"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and int(_trade_rows(csv_path)[-1][-1].rpartition(":")[2]) < sent:
            time.sleep(0.1)
        restarted.stop()
        rows = len(_trade_rows(csv_path))
        stats = (results / "data" / "zeromq_stats.csv").read_text().strip().split("\n")[1:]
        gaps = sum(int(line.split(",")[6]) for line in stats)
    setting = f"trades sink kill -9 for ~{rate_hz:g} trades, restarted; {sent} sent"
    return [_row("lost_under_consumer_kill", sent - rows, "count", setting, rate_hz=rate_hz),
            _row("gaps_counted", gaps, "count", setting, rate_hz=rate_hz)]


def measure(config: LabConfig, quick: bool) -> list[dict]:
    """Every ZeroMQ row of results/bench/transports.csv (quick: shorter runs, a shorter ladder)."""
    rows = publish_rate_max(config, 2.0 if quick else 10.0)
    rows += latency(config, 10, 5.0 if quick else 30.0)
    rows += bare_socket_latency(10, 5.0 if quick else 30.0)
    rows += latency(config, 1000, 3.0 if quick else 10.0)
    rows += [_row("broker_cpu_pct", 0, "%", "there is no broker process", client="no broker process"),
             _row("broker_rss_mib", 0, "MiB", "there is no broker process", client="no broker process")]
    rows += loss_under_consumer_kill(config)
    return rows
