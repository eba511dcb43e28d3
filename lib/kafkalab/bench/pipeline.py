"""Experiment "pipeline": end-to-end latency of the real pipeline under load, and its limit.

The five components run as their own papermill processes (kafkalab.pipeline.runner), on fresh
topics with fresh consumer groups and a scratch results folder (deleted afterwards),
so the application's topics and CSVs are not touched. The processor, both sinks and
the order-book generator run for the whole experiment; the trade generator is started
once per offered load (`rate_hz`), for `seconds`, then everything is drained before
the next load.

Per load:
- trades latency = written_ts_us - produced_ts_us of every trades.csv row of that load
  (the sink takes written_ts_us just before it writes the batch to the file; the fsync
  follows in a background thread and the offsets are committed after it), without the
  first WARMUP_S seconds (the new generator process connecting),
- candle latency = written_ts_us - window_end_us of every candles.csv row whose window
  ended during that load after the warm-up (it includes the processor's 500 ms allowed
  lateness and the wait for the next trade of the partition that moves the watermark),
- consumer lag from Kafka (committed offsets vs last stable offsets), sampled every
  LAG_SAMPLE_S while the generator runs; a load is *sustained* when neither the trades
  sink's nor the processor's lag grows (least-squares slope over the second half of
  the generation below SLOPE_TOLERANCE of the rate, or below SLOPE_FLOOR records/s) and
  the trades sink ends the load less than END_LAG_S seconds' worth of records behind.
  (The processor's lag never reaches 0 while trades flow: it commits the oldest record
  of a still-open window, about 1.5 s of records.)

The trade generator runs its notebook with the linger.ms it picks by itself for the
rate (generators.rate_producer_defaults: 0 up to 100/s, the producer default 5 above;
passed explicitly as producer_settings so the CSV records it); one extra first load at
the lowest rate uses linger.ms=5 to show what batching costs there.

After the grid (10 Hz .. as fast as the generator goes), BISECT_STEPS more loads
between the highest sustained and the lowest unsustained one narrow down the highest
rate the whole pipeline sustains.

CSV: results/bench/pipeline.csv, one row per load (kind="load") and one summary row
(kind="max_sustained"), plus the append_rows columns (run_id, run_at, machine, versions).
Columns:
  kind, offered_hz (0 = as fast as possible), seconds, warmup_s, achieved_hz (trades.csv
  rows of the load over the span of their produced_ts_us), trades (rows after the
  warm-up), trades_not_in_csv (records the topic received during the load minus the
  rows written for it: 0 when nothing was lost or doubled), trades_p50_ms,
  trades_p95_ms, trades_p99_ms, trades_max_ms, candles, candle_p50_ms, candle_p95_ms,
  candle_p99_ms, sink_lag_max, sink_lag_end (mean over the last 2 s),
  sink_lag_slope_per_s, processor_lag_max, processor_lag_slope_per_s, drain_s (from the
  generator's end until the processor and both sinks are caught up), sustained,
  max_sustained_hz (summary row), machine_cpu_percent, load_avg_1m (other work on the
  machine changes every figure here), fsync_p50_ms, fsync_p99_ms (write + fsync of one
  line in the scratch folder: what making one batch durable costs on this disk), and
  the settings: producer_linger_ms (of the trade generator in that load), serializer,
  trade_partitions, replication_factor, acks, sink_fetch_wait_max_ms, sink_max_batch,
  processor_allowed_lateness_ms.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from kafkalab.transports.kafka import clients
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.pipeline.runner import (ComponentProcess, LagProbe, Pipeline, PipelineError, PipelineGroups, PipelinePlan,
                      PipelineTopics)
from kafkalab.core.csvstore import CANDLES_COLUMNS, TRADES_COLUMNS
from kafkalab.transports.kafka.sink import DEFAULT_MAX_BATCH, SINK_CONSUMER
from kafkalab.transports.kafka.generator import rate_producer_defaults
from kafkalab.transports.kafka.topics import spec as topic_spec
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, delete_topics_now

FULL_LOADS = (10, 100, 1000, 5000, 20000, 0)  # 0 = as fast as the generator can go
QUICK_LOADS = (10, 200)
FULL_SECONDS, QUICK_SECONDS = 20.0, 6.0
# Low rates give few samples per second: 20 s at 10 Hz would make p99 the second-largest
# of ~190 values. Loads up to LONG_LOAD_MAX_HZ run LONG_LOAD_SECONDS in the full grid.
LONG_LOAD_MAX_HZ, LONG_LOAD_SECONDS = 100, 60.0
BISECT_STEPS = 2
LAG_SAMPLE_S = 0.5
SLOPE_TOLERANCE = 0.05  # lag may grow by at most 5% of the rate per second (sampling noise)...
END_LAG_S = 1.0  # ...and the trades sink ends the load less than 1 s of records behind
SLOPE_FLOOR = 5.0  # records/s: below this a slope is noise
DRAIN_TIMEOUT_S = 240.0
GENERATOR_START_S = 90.0
# A freshly started generator process connects and fetches metadata while its first
# records wait: those records measure start-up, not the pipeline. Left out of the latency.
WARMUP_S = 1.0

BATCHING_LINGER_MS = clients.RELIABLE_PRODUCER["linger.ms"]


def generator_linger_ms(rate_hz: float) -> int:
    """The linger.ms the trade generator uses by itself at this rate."""
    return int(rate_producer_defaults(rate_hz).get("linger.ms", BATCHING_LINGER_MS))

@dataclass
class LoadResult:
    offered_hz: float
    seconds: float
    achieved_hz: float
    trades: pd.DataFrame
    candles: pd.DataFrame
    sink_lag: np.ndarray  # (t, lag) rows while generating
    processor_lag: np.ndarray
    drain_s: float
    cpu: dict
    producer_linger_ms: int = 0
    produced: int = 0  # records the trades topic grew by during the load (Kafka's count)


def production_rate(trades: pd.DataFrame) -> float:
    """Trades per second by the generator's own clock: rows over the span of produced_ts_us."""
    if len(trades) < 2:
        return 0.0
    span_s = (trades.produced_ts_us.max() - trades.produced_ts_us.min()) / 1e6
    return (len(trades) - 1) / span_s if span_s > 0 else 0.0


def _percentiles(values_us: pd.Series, prefix: str) -> dict:
    if values_us.empty:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p95_ms": None, f"{prefix}_p99_ms": None}
    p50, p95, p99 = np.percentile(values_us.to_numpy(dtype=float) / 1000.0, [50, 95, 99])
    return {f"{prefix}_p50_ms": round(p50, 3), f"{prefix}_p95_ms": round(p95, 3), f"{prefix}_p99_ms": round(p99, 3)}


def lag_slope(samples: np.ndarray) -> float:
    """Records/s the lag grows by over the second half of the samples (least squares)."""
    if len(samples) < 4:
        return 0.0
    half = samples[len(samples) // 2:]
    if np.ptp(half[:, 0]) <= 0:
        return 0.0
    return float(np.polyfit(half[:, 0], half[:, 1], 1)[0])


def end_lag(samples: np.ndarray, last_s: float = 2.0) -> float:
    """Mean lag over the last `last_s` seconds of the samples."""
    tail = samples[samples[:, 0] >= samples[-1, 0] - last_s]
    return float(tail[:, 1].mean())


def is_sustained(rate: float, sink_slope: float, processor_slope: float, sink_end_lag: float = 0.0) -> bool:
    """Lag not growing: small slopes (least squares, second half) and a sink less than END_LAG_S behind."""
    limit = max(SLOPE_FLOOR, SLOPE_TOLERANCE * rate)
    return sink_slope <= limit and processor_slope <= limit and sink_end_lag <= max(SLOPE_FLOOR, END_LAG_S * rate)


def fsync_cost(folder: Path, n: int = 200) -> dict:
    """What one durable batch costs here: write one CSV line + fsync, n times."""
    path = folder / "fsync-probe.csv"
    times = []
    with path.open("ab") as f:
        for _ in range(n):
            start = time.perf_counter()
            f.write(b"AAPL,1,190.01,100.0,buy,1700000000000000,1700000000000000,1700000000000000,0,1\n")
            f.flush()
            os.fsync(f.fileno())
            times.append((time.perf_counter() - start) * 1000)
    path.unlink()
    p50, p99 = np.percentile(times, [50, 99])
    return {"fsync_p50_ms": round(float(p50), 3), "fsync_p99_ms": round(float(p99), 3)}


class TailReader:
    """Reads the rows appended to a sink CSV since the last call."""

    def __init__(self, path: Path, columns):
        self.path, self.columns, self.position = path, list(columns), 0

    def skip_to_end(self) -> None:
        """Start after the last whole line (a line being written belongs to the next read)."""
        from kafkalab.core.csvstore import end_of_last_complete_line

        if not self.path.exists():
            self.position = 0
            return
        with self.path.open("rb") as f:
            self.position = end_of_last_complete_line(f, f.seek(0, os.SEEK_END))

    def read_new(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame(columns=self.columns)
        with self.path.open("rb") as f:
            f.seek(self.position)
            data = f.read()
        data = data[: data.rfind(b"\n") + 1]
        start = self.position
        self.position += len(data)
        if start == 0:  # skip the header
            data = data[data.find(b"\n") + 1:]
        if not data:
            return pd.DataFrame(columns=self.columns)
        import io

        return pd.read_csv(io.BytesIO(data), names=self.columns, header=None)


class PipelineBench:
    """The long-running part of the pipeline plus a fresh trade generator per load."""

    def __init__(self, config: LabConfig, seconds: float):
        tag = uuid.uuid4().hex[:8]
        self.scratch = Path(tempfile.mkdtemp(prefix="kafkalab-bench-pipeline-"))
        self.config = config.with_overrides(results_dir=str(self.scratch))
        self.topics = PipelineTopics(*(f"bench-pipe-{tag}-{n}" for n in
                                       ("trades", "orderbooks", "candles", "book-features", "dead-letters")))
        self.groups = PipelineGroups(f"bench-pipe-{tag}-processor", f"bench-pipe-{tag}-sink-trades",
                                     f"bench-pipe-{tag}-sink-candles")
        self.seconds = seconds
        self.plan = PipelinePlan(seconds=seconds, topics=self.topics, groups=self.groups, extra={
            "generator_orderbook": {"max_seconds": 0},  # runs for the whole experiment
        })
        self.pipeline = Pipeline(self.config, self.plan, echo=tqdm.write)
        self.lag = LagProbe(self.config.bootstrap_servers)
        self.trades = TailReader(self.config.data_dir / "trades.csv", TRADES_COLUMNS)
        self.candles = TailReader(self.config.data_dir / "candles.csv", CANDLES_COLUMNS)
        self.generator_runs = 0

    # -- set-up and tear-down -------------------------------------------------------------
    def start(self) -> None:
        clients.ensure_topics(self.config.bootstrap_servers, self.topics.specs())
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.pipeline.start(["processor_market", "sink_trades_csv", "sink_candles_csv"])
        if not self.pipeline.wait_until_consuming(GENERATOR_START_S):
            raise PipelineError(f"the processor and sinks did not join their groups within {GENERATOR_START_S:g} s; "
                                f"see the logs in {self.config.runs_dir}")
        self.pipeline.start(["generator_orderbook"])

    def close(self, keep_scratch: bool) -> None:
        try:
            self.pipeline.stop_all()
        finally:
            try:
                delete_topics_now(self.config.bootstrap_servers, list(vars(self.topics).values()))
            except Exception:  # the measurement's own error matters more
                pass
            if not keep_scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)

    # -- one load ---------------------------------------------------------------------------
    def _generator(self, rate_hz: float, linger_ms: int, seconds: float) -> ComponentProcess:
        base = next(s for s in self.plan.components(self.config) if s.name == "generator_trades")
        self.generator_runs += 1
        spec = replace(base, parameters={**base.parameters, "rate_hz": rate_hz if rate_hz else "max",
                                         "max_seconds": seconds, "producer_settings": f"linger.ms={linger_ms}"})
        proc = ComponentProcess(spec, self.config)
        proc.executed = self.config.runs_dir / f"generator_trades-{self.generator_runs}.ipynb"
        proc.log_path = self.config.runs_dir / f"generator_trades-{self.generator_runs}.log"
        return proc

    def measure(self, rate_hz: float, bar: tqdm, linger_ms: int | None = None,
                seconds: float | None = None) -> LoadResult:
        seconds = seconds or self.seconds
        linger_ms = generator_linger_ms(rate_hz) if linger_ms is None else linger_ms
        self.trades.skip_to_end()
        self.candles.skip_to_end()
        t = self.topics
        before = sum(self.lag.end_offsets([t.trades]).values())
        generator = self._generator(rate_hz, linger_ms, seconds)
        generator.start()
        sink_lag, processor_lag = [], []
        first_record_at = None
        deadline = time.monotonic() + seconds + GENERATOR_START_S
        with LoadProbe() as probe:
            while generator.running:
                self._check()
                if time.monotonic() > deadline:
                    generator.request_stop()
                    deadline = time.monotonic() + 60
                now = time.monotonic()
                produced = sum(self.lag.end_offsets([t.trades]).values()) - before
                if produced > 0:
                    first_record_at = first_record_at or now
                    sink = self.lag.lag(self.groups.trades_sink, [t.trades])
                    proc = self.lag.lag(self.groups.processor, [t.trades])
                    sink_lag.append((now - first_record_at, sink))
                    processor_lag.append((now - first_record_at, proc))
                    bar.set_postfix_str(f"{_rate_label(rate_hz)}: {produced:,} trades, lag sink {sink:,} "
                                        f"processor {proc:,}")
                time.sleep(LAG_SAMPLE_S)
        if generator.returncode != 0:
            raise PipelineError(generator.failure())
        produced = sum(self.lag.end_offsets([t.trades]).values()) - before
        drain_s = self._drain(bar)
        trades = self.trades.read_new()
        return LoadResult(rate_hz, seconds, production_rate(trades), trades, self.candles.read_new(),
                          np.array(sink_lag or [(0, 0)], float), np.array(processor_lag or [(0, 0)], float),
                          drain_s, probe.columns(), linger_ms, produced)

    def _drain(self, bar: tqdm) -> float:
        """Seconds until the trades are fully processed and written (the book feed keeps going)."""
        start = time.monotonic()
        t = self.topics
        # The processor commits the oldest record of an open window: once the trades stop,
        # its idle rule closes the last windows within a couple of seconds. Checked in
        # data-flow order, so the candles of those windows are counted by the next check.
        checks = ((self.groups.processor, [t.trades]), (self.groups.trades_sink, [t.trades]),
                  (self.groups.candles_sink, [t.candles]))
        while time.monotonic() - start < DRAIN_TIMEOUT_S:
            self._check()
            lags = [self.lag.lag(group, topics) for group, topics in checks]
            bar.set_postfix_str(f"draining: lag processor {lags[0]:,}, trades sink {lags[1]:,}, "
                                f"candles sink {lags[2]:,}")
            if not any(lags):
                return round(time.monotonic() - start, 2)
            time.sleep(LAG_SAMPLE_S)
        raise LabError(f"the pipeline did not catch up within {DRAIN_TIMEOUT_S:g} s after a load; "
                       f"see the logs in {self.config.runs_dir}")

    def _check(self) -> None:
        for proc in self.pipeline.processes.values():
            if proc.running or proc.stop_requested_at is not None or proc.popen is None:
                continue
            raise PipelineError(proc.failure() if proc.returncode else f"component {proc.name} stopped early; "
                                f"see {proc.log_path}")


def _rate_label(rate_hz: float) -> str:
    return f"{rate_hz:g} Hz" if rate_hz else "max"


def steady_state(result: LoadResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of a load without its first WARMUP_S seconds (trades by produced time, candles by window end)."""
    trades, candles = result.trades, result.candles
    if trades.empty:
        return trades, candles
    cut = int(trades.produced_ts_us.min()) + int(WARMUP_S * 1_000_000)
    return trades[trades.produced_ts_us >= cut], candles[candles.window_end_us >= cut]


def row_for(result: LoadResult, settings: dict, fsync: dict) -> dict:
    trades, candles = steady_state(result)
    sink_slope = lag_slope(result.sink_lag)
    processor_slope = lag_slope(result.processor_lag)
    return {
        "kind": "load", "offered_hz": result.offered_hz, "seconds": result.seconds, "warmup_s": WARMUP_S,
        "achieved_hz": round(result.achieved_hz, 1), "trades": len(trades),
        # every record the topic received this load must be in trades.csv once: 0 expected
        "trades_not_in_csv": result.produced - len(result.trades),
        **_percentiles(trades.written_ts_us - trades.produced_ts_us, "trades"),
        "trades_max_ms": round(float((trades.written_ts_us - trades.produced_ts_us).max()) / 1000, 3) if len(trades) else None,
        "candles": len(candles),
        **_percentiles(candles.written_ts_us - candles.window_end_us, "candle"),
        "sink_lag_max": int(result.sink_lag[:, 1].max()), "sink_lag_end": round(end_lag(result.sink_lag), 1),
        "sink_lag_slope_per_s": round(sink_slope, 1),
        "processor_lag_max": int(result.processor_lag[:, 1].max()),
        "processor_lag_slope_per_s": round(processor_slope, 1), "drain_s": result.drain_s,
        "sustained": is_sustained(result.achieved_hz, sink_slope, processor_slope, end_lag(result.sink_lag)),
        **result.cpu, **fsync, **settings, "producer_linger_ms": result.producer_linger_ms,
    }


def settings_for(config: LabConfig) -> dict:
    trades = topic_spec("trades")
    return {"serializer": config.serializer, "trade_partitions": trades.partitions,
            "replication_factor": trades.replication_factor, "acks": clients.RELIABLE_PRODUCER["acks"],
            "sink_fetch_wait_max_ms": SINK_CONSUMER["fetch.wait.max.ms"],
            "sink_max_batch": DEFAULT_MAX_BATCH, "processor_allowed_lateness_ms": 500}


def next_bisect_rate(rows: list[dict]) -> float | None:
    """A geometric midpoint between the best sustained and the worst unsustained achieved rate."""
    ok = [r["achieved_hz"] for r in rows if r["sustained"]]
    bad = [r["achieved_hz"] for r in rows if not r["sustained"]]
    if not ok or not bad:
        return None
    low, high = max(ok), min(h for h in bad if h > 0) if any(h > 0 for h in bad) else None
    if high is None or high <= low * 1.1:
        return None
    return round(float(np.sqrt(low * high)), -1)


def run(config: LabConfig, quick: bool = False) -> None:
    loads = QUICK_LOADS if quick else FULL_LOADS
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    clients.require_reachable(config.bootstrap_servers)
    bench = PipelineBench(config, seconds)
    rows: list[dict] = []
    failed = True
    settings = settings_for(config)
    try:
        fsync = fsync_cost(bench.scratch)
        bench.start()
        steps = 1 + len(loads) + (0 if quick else BISECT_STEPS)
        with tqdm(total=steps, desc="pipeline bench", unit="load") as bar:
            for rate, linger in [(loads[0], BATCHING_LINGER_MS), *((r, None) for r in loads)]:
                long = not quick and 0 < rate <= LONG_LOAD_MAX_HZ
                rows.append(row_for(bench.measure(rate, bar, linger, LONG_LOAD_SECONDS if long else None),
                                    settings, fsync))
                bar.update(1)
                tqdm.write(_summary(rows[-1]))
            for _ in range(0 if quick else BISECT_STEPS):
                rate = next_bisect_rate(rows)
                if rate is None:
                    break
                rows.append(row_for(bench.measure(rate, bar), settings, fsync))
                bar.update(1)
                tqdm.write(_summary(rows[-1]))
        failed = False
    finally:
        bench.close(keep_scratch=failed)
        if failed:
            tqdm.write(f"pipeline bench failed; component logs kept in {bench.config.runs_dir}")
    sustained = [r["achieved_hz"] for r in rows if r["sustained"]]
    best = max(sustained) if sustained else 0.0
    rows.append({"kind": "max_sustained", "max_sustained_hz": best, "seconds": seconds, **settings, **fsync})
    append_rows(config.bench_dir / "pipeline.csv", rows)
    tqdm.write(f"highest trade rate sustained without growing lag: {best:,.0f}/s "
               f"-> {config.bench_dir / 'pipeline.csv'}")


def _summary(row: dict) -> str:
    return (f"{_rate_label(row['offered_hz'])} (linger.ms={row['producer_linger_ms']}): achieved {row['achieved_hz']:,.0f}/s, trades p50 "
            f"{row['trades_p50_ms']} ms p99 {row['trades_p99_ms']} ms, candle p50 {row['candle_p50_ms']} ms, "
            f"sink lag slope {row['sink_lag_slope_per_s']}/s, sustained={row['sustained']}, drain {row['drain_s']} s")
