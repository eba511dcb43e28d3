"""Experiment "pipeline": end-to-end latency of the real pipeline under load, and its limit.

The five components run as their own papermill processes (kafkalab.pipeline.launcher), on fresh
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
(kind="max_sustained"), plus the append_rows columns (run_id, run_at, machine, versions);
kafkalab.bench.pipeline_rows turns a load into its row.
Columns:
  kind, offered_hz (0 = as fast as possible), seconds, warmup_s, achieved_hz (trades.csv
  rows of the load over the span of their produced_ts_us), trades (rows after the
  warm-up), trades_not_in_csv (records the topic received during the load minus the
  rows written for it: 0 when nothing was lost or doubled), trades_p50_ms,
  trades_p95_ms, trades_p99_ms, trades_max_ms, candles, candle_p50_ms, candle_p95_ms,
  candle_p99_ms, sink_lag_max, sink_lag_end (mean over the last 2 s),
  sink_lag_slope_per_s, processor_lag_max, processor_lag_end (mean over the last 2 s),
  processor_lag_slope_per_s, drain_s (from the generator's end until the processor and
  both sinks are caught up), sustained,
  max_sustained_hz (summary row), machine_cpu_percent, load_avg_1m (other work on the
  machine changes every figure here),
  where the CPU went in the load's steady window (kafkalab.bench.pipeline_cpu: from WARMUP_S after
  the first record to the last poll while the trade generator ran; all empty when the load was
  too short for one): cpu_pct_trade_generator, cpu_pct_orderbook_generator,
  cpu_pct_market_processor, cpu_pct_trades_sink, cpu_pct_candles_sink (each component's process,
  in % of one core), cpu_pct_brokers (the three broker JVMs; empty unless the bootstrap servers
  are the lab's own local cluster), cpu_pct_total (all of them), cpu_window_s, cpu_us_per_trade
  (CPU-seconds of all of them in the window over the trades the topic received in it, in µs; a
  load the pipeline does not keep up with leaves part of its work for after the window, so
  there it is a lower bound), cpu_bound_hz (machine cores x 1e6 / cpu_us_per_trade: an
  extrapolation, the rate the machine's cores would carry if the cost per trade stayed the
  same at any rate), fsync_p50_ms, fsync_p99_ms (write + fsync of one
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
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from kafkalab.transports.kafka import clients
from kafkalab.config import LabConfig
from kafkalab.errors import LabError
from kafkalab.pipeline.launcher import ComponentProcess, PipelineError
from kafkalab.pipeline.plan import CONSUMERS, ComponentSpec, private_plan
from kafkalab.pipeline.runner import NO_RESTARTS, Pipeline
from kafkalab.runtime.params import CANDLES_SINK, MARKET_PROCESSOR, ORDERBOOK_GENERATOR, TRADE_GENERATOR, TRADES_SINK
from kafkalab.transports.kafka.components import group_id
from kafkalab.transports.kafka.lag import LagProbe
from kafkalab.core.csvstore import CANDLES_COLUMNS, TRADES_COLUMNS
from kafkalab.transports.kafka.generator import rate_producer_defaults
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, delete_topics_now
from kafkalab.bench.pipeline_cpu import LoadCpu
from kafkalab.bench.pipeline_rows import LoadResult, next_bisect_rate, production_rate, row_for, settings_for

FULL_LOADS = (10, 100, 1000, 5000, 20000, 0)  # 0 = as fast as the generator can go
QUICK_LOADS = (10, 200)
FULL_SECONDS, QUICK_SECONDS = 20.0, 6.0
# Low rates give few samples per second: 20 s at 10 Hz would make p99 the second-largest
# of ~190 values. Loads up to LONG_LOAD_MAX_HZ run LONG_LOAD_SECONDS in the full grid.
LONG_LOAD_MAX_HZ, LONG_LOAD_SECONDS = 100, 60.0
BISECT_STEPS = 2
LAG_SAMPLE_S = 0.5
DRAIN_TIMEOUT_S = 240.0
GENERATOR_START_S = 90.0

BATCHING_LINGER_MS = clients.RELIABLE_PRODUCER["linger.ms"]


def generator_linger_ms(rate_hz: float) -> int:
    """The linger.ms the trade generator uses by itself at this rate."""
    return int(rate_producer_defaults(rate_hz).get("linger.ms", BATCHING_LINGER_MS))


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

    def __init__(self, config: LabConfig, seconds: float, processor: dict | None = None):
        """`processor`: parameters of the market processor besides its group (bench streams: the engine)."""
        self.scratch = Path(tempfile.mkdtemp(prefix="kafkalab-bench-pipeline-"))
        self.config = config.with_overrides(results_dir=str(self.scratch))
        self.seconds = seconds
        self.plan = private_plan(f"bench-pipe-{uuid.uuid4().hex[:8]}", seconds, overrides={
            ORDERBOOK_GENERATOR: {"max_seconds": 0},  # runs for the whole experiment
            MARKET_PROCESSOR: dict(processor or {}),
        })
        self.trades_topic = self.plan.shared_params.stream("trades")
        self.candles_topic = self.plan.shared_params.stream("candles")
        # No restarts: a component that dies invalidates the load's figures.
        self.pipeline = Pipeline(self.config, self.plan, restart=NO_RESTARTS)
        self.lag = LagProbe(self.config.bootstrap_servers)
        self.trades = TailReader(self.config.data_dir / "trades.csv", TRADES_COLUMNS)
        self.candles = TailReader(self.config.data_dir / "candles.csv", CANDLES_COLUMNS)
        self.generator_runs = 0

    # -- set-up and tear-down -------------------------------------------------------------
    def group(self, name: str) -> str:
        return group_id(name, self.plan.params(name))

    def start(self) -> None:
        self.pipeline.transport.prepare(self.config, self.plan.shared_params)
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.pipeline.start(CONSUMERS)
        if not self.pipeline.wait_until_consuming(GENERATOR_START_S):
            raise PipelineError(f"the processor and sinks did not join their groups within {GENERATOR_START_S:g} s; "
                                f"see the logs in {self.config.runs_dir}")
        self.pipeline.start([ORDERBOOK_GENERATOR])

    def close(self, keep_scratch: bool) -> None:
        try:
            self.pipeline.stop_all()
        finally:
            try:
                delete_topics_now(self.config.bootstrap_servers, list(self.plan.shared_params.streams.values()))
            except Exception:  # the measurement's own error matters more
                pass
            if not keep_scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)

    # -- one load ---------------------------------------------------------------------------
    def _generator(self, rate_hz: float, linger_ms: int, seconds: float) -> ComponentProcess:
        self.generator_runs += 1
        params = self.plan.params(TRADE_GENERATOR).with_changes(
            rate_hz=rate_hz if rate_hz else "max", max_seconds=seconds, producer_settings=f"linger.ms={linger_ms}")
        return ComponentProcess(ComponentSpec(TRADE_GENERATOR, params), self.config,
                                label=f"generator_trades-{self.generator_runs}")

    def measure(self, rate_hz: float, bar: tqdm, linger_ms: int | None = None,
                seconds: float | None = None) -> LoadResult:
        seconds = seconds or self.seconds
        linger_ms = generator_linger_ms(rate_hz) if linger_ms is None else linger_ms
        self.trades.skip_to_end()
        self.candles.skip_to_end()
        trades_topic = self.trades_topic
        before = sum(self.lag.end_offsets([trades_topic]).values())
        generator = self._generator(rate_hz, linger_ms, seconds)
        generator.start()
        cpu = LoadCpu(self.config, self.pipeline.processes, generator)
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
                produced = sum(self.lag.end_offsets([trades_topic]).values()) - before
                if produced > 0 and first_record_at is None:
                    first_record_at = now
                cpu.poll(produced, None if first_record_at is None else now - first_record_at)
                if produced > 0:
                    sink = self.lag.lag(self.group(TRADES_SINK), [trades_topic])
                    proc = self.lag.lag(self.group(MARKET_PROCESSOR), [trades_topic])
                    sink_lag.append((now - first_record_at, sink))
                    processor_lag.append((now - first_record_at, proc))
                    bar.set_postfix_str(f"{_rate_label(rate_hz)}: {produced:,} trades, lag sink {sink:,} "
                                        f"processor {proc:,}")
                time.sleep(LAG_SAMPLE_S)
        if generator.returncode != 0:
            raise PipelineError(generator.failure())
        produced = sum(self.lag.end_offsets([trades_topic]).values()) - before
        drain_s = self._drain(bar)
        trades = self.trades.read_new()
        return LoadResult(rate_hz, seconds, production_rate(trades), trades, self.candles.read_new(),
                          np.array(sink_lag or [(0, 0)], float), np.array(processor_lag or [(0, 0)], float),
                          drain_s, probe.columns(), linger_ms, produced, cpu.window())

    def _drain(self, bar: tqdm) -> float:
        """Seconds until the trades are fully processed and written (the book feed keeps going)."""
        start = time.monotonic()
        # The processor commits the oldest record of an open window: once the trades stop,
        # its idle rule closes the last windows within a couple of seconds. Checked in
        # data-flow order, so the candles of those windows are counted by the next check.
        checks = ((self.group(MARKET_PROCESSOR), [self.trades_topic]), (self.group(TRADES_SINK), [self.trades_topic]),
                  (self.group(CANDLES_SINK), [self.candles_topic]))
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
