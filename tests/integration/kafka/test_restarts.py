"""Component restarts and signals (issue 7, part 2), with components as real processes.

1. kill -9 the processor (twice) and each sink mid-run, restart them at once, while both
   generators keep producing: afterwards no acknowledged trade is missing from
   trades.csv, no row is doubled in any CSV, every candle equals the one recomputed from
   trades.csv, the processor left no open transaction, and the sinks' committed offsets
   are exactly what their CSVs hold.
2. SIGTERM / SIGINT stop a component cleanly: exit 0, the file ends with a complete line,
   the group's committed offsets equal what was written; a generator flushes (everything
   it produced is acknowledged and recorded).
3. Papermill: SIGTERM to the kernel is a clean stop (papermill exits 0); Ctrl-C
   (SIGINT) to papermill interrupts the kernel, which stops cleanly; SIGTERM to papermill
   kills it at once and its kernel exits within about a second WITHOUT a clean stop
   (ipykernel's parent poller calls os._exit) - the next run resumes from the CSV with
   nothing lost or doubled. (The runner and the compose wrapper therefore stop
   components through the stop file; see kafkalab.runtime.loop.)
Every component process here is started by the pipeline launcher (kafkalab.pipeline.launcher),
the same one `kafkalab run` and the benchmarks use.
4. Fenced clients recover in place: a sink or the processor whose static group membership
   is taken over (as Kafka does by mistake when a coordinator fails over), and the processor
   whose transactional producer is fenced (fatal), rejoin / restart their clients and
   lose or double nothing.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkalab import config as lab_config
from kafkalab.bench.accounting import candle_mismatches, ends_with_complete_line, generator_counters, read_rows, tally
from kafkalab.bench.reliability.pipeline_run import PipelineRun
from kafkalab.core import serde
from kafkalab.core.models import Trade, now_us
from kafkalab.pipeline.launcher import ComponentProcess
from kafkalab.pipeline.plan import ComponentSpec
from kafkalab.runtime.params import CANDLES_SINK, MARKET_PROCESSOR, TRADE_GENERATOR, TRADES_SINK, ComponentParams
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.lag import LagProbe

from helpers import rows_in, wait_for

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]




def end_offsets(bootstrap: str, topic: str, committed_only: bool) -> dict[int, int]:
    admin = clients.admin(bootstrap)
    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
    level = IsolationLevel.READ_COMMITTED if committed_only else IsolationLevel.READ_UNCOMMITTED
    futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts},
                                 isolation_level=level, request_timeout=10)
    return {tp.partition: f.result().offset for tp, f in futures.items()}


def committed_equals_written(bootstrap: str, group: str, topic: str, csv_path: Path) -> None:
    """The group's committed offset of every partition is the next offset after the CSV's last row."""
    written: dict[int, int] = {}
    for r in read_rows(csv_path):
        p, o = map(int, r["position"].split(":"))
        written[p] = max(written.get(p, -1), o)
    committed = {p: o for (t, p), o in LagProbe(bootstrap).committed(group, [topic]).items()}
    assert committed == {p: o + 1 for p, o in written.items()}, (committed, written)


# ---- 1. kill -9 mid-run ---------------------------------------------------------------------


def start_in_thread(component) -> tuple[threading.Thread, list[BaseException]]:
    """Run a component's loop (bounded) in a daemon thread; its exception lands in the list."""
    from kafkalab.runtime.loop import Bounds, run_loop

    errors: list[BaseException] = []

    def loop() -> None:
        try:
            run_loop(component, Bounds(max_seconds=120))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread, errors

def test_kill_9_processor_and_sinks_mid_run_loses_and_doubles_nothing(bootstrap, tmp_path):
    run = PipelineRun.fresh(bootstrap, tmp_path / "results")
    run.create_topics()
    run.build(trade_rate_hz=150, seconds=22, book_rate_hz=10)
    kills = [(5.0, MARKET_PROCESSOR), (9.0, TRADES_SINK), (13.0, CANDLES_SINK), (16.0, MARKET_PROCESSOR)]
    try:
        run.start(run.consumers)
        assert run.wait_consuming(120), f"the consumers did not own their partitions: {run.failed()}"
        run.start(run.generators)
        started = time.monotonic()
        for at, name in kills:
            while time.monotonic() - started < at:
                assert not run.failed(), run.failed()
                time.sleep(0.1)
            run.procs[name].kill()  # SIGKILL: no flush, no commit, maybe a torn line
            assert run.procs[name].returncode == -signal.SIGKILL
            run.procs[name].start()
        run.wait_generators(timeout_s=90)
        lags = run.drain(timeout_s=90)
        assert lags and not any(lags.values()), \
            f"not drained: {lags}; {run.failed()}; processor said: {run.procs[MARKET_PROCESSOR].last_lines(6)}"
        codes = run.stop(run.consumers)
        assert codes == {name: 0 for name in run.consumers}, (codes, run.failed())
        assert all(run.procs[n].returncode == 0 for n in run.generators), run.failed()
    finally:
        run.kill_all()

    trades = read_rows(run.data_dir / "trades.csv")
    acked = read_rows(run.acked_csv)
    counts = tally(acked, trades)
    assert counts.lost == 0 and counts.duplicated == 0 and counts.unacked_stored == 0, counts
    assert len({(r["transport"], r["position"]) for r in trades}) == len(trades)
    summary = generator_counters(run.procs[TRADE_GENERATOR].output())
    assert summary.get("acked") == counts.acked == counts.stored > 1000, (summary, counts)

    candles = read_rows(run.data_dir / "candles.csv")
    assert candle_mismatches(trades, candles) == []
    features = read_rows(run.data_dir / "book_features.csv")
    keys = [(r["symbol"], r["window_start_us"]) for r in features]
    assert features and len(keys) == len(set(keys)), "a book-features row was written twice"
    for name in ("trades.csv", "candles.csv", "book_features.csv"):
        assert ends_with_complete_line(run.data_dir / name), name

    # clean final stop: nothing left open or uncommitted
    for topic in (run.topic("candles"), run.topic("book-features")):
        assert end_offsets(bootstrap, topic, True) == end_offsets(bootstrap, topic, False), \
            f"an open transaction on {topic} after the processor's clean stop"
    committed_equals_written(bootstrap, run.group(TRADES_SINK), run.topic("trades"), run.data_dir / "trades.csv")
    assert LagProbe(bootstrap).lag(run.group(CANDLES_SINK), [run.topic("candles"), run.topic("book-features")]) == 0
    assert all(run.procs[n].starts == 1 + sum(1 for _, k in kills if k == n) for n in run.consumers)
    print(f"\nkill -9 x{len(kills)}: acked {counts.acked}, stored {counts.stored}, duplicated {counts.duplicated}, "
          f"lost {counts.lost}, candles {len(candles)}, book features {len(features)}")
    run.delete_topics()


# ---- 2. SIGTERM / SIGINT -----------------------------------------------------------------------

def produce_trades(bootstrap: str, topic: str, first_id: int, n: int) -> None:
    t0 = now_us()
    with clients.producer(bootstrap) as producer:
        for i in range(first_id, first_id + n):
            symbol = ("AAPL", "NVDA", "GOOG")[i % 3]
            value, headers = serde.encode(Trade(symbol, i, 100.0 + i % 7, 1.0, "buy", t0 + i, t0 + i), "json")
            producer.produce(topic, key=symbol.encode(), value=value, headers=headers)
            producer.poll(0)


def launched(name: str, bootstrap: str, results: Path, label: str, mode: str = "python",
             **params) -> ComponentProcess:
    """One component through the pipeline launcher, its files under results/runs/<label>.*"""
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(results), transport="kafka")
    return ComponentProcess(ComponentSpec(name, ComponentParams(**params)), config, mode, label)


def sink_proc(bootstrap: str, results: Path, topic: str, dlq: str, group: str, mode: str = "python",
              label: str = "sink") -> ComponentProcess:
    # small batches: a signal lands mid-stream
    return launched(TRADES_SINK, bootstrap, results, label, mode, streams={"trades": topic, "dead-letters": dlq},
                    group_id=group, max_seconds=600, max_batch=100)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_a_sink_cleanly(sig, bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(3), new_topic(1, prefix="dlq")
    produce_trades(bootstrap, topic, 1, 3000)
    proc = sink_proc(bootstrap, tmp_path, topic, dlq, group_id)
    csv_path = tmp_path / "data" / "trades.csv"
    proc.start()
    try:
        wait_for(lambda: rows_in(csv_path) >= 1500 or not proc.running, 90, "the sink to write")
        proc.signal(sig)  # mid-stream: more records are still coming in
        assert proc.wait(120) == 0, proc.output()[-2000:]
    finally:
        proc.kill()
    assert f"{sig.name} received, stopping cleanly" in proc.output()
    assert ends_with_complete_line(csv_path)
    committed_equals_written(bootstrap, group_id, topic, csv_path)


def test_sigterm_flushes_the_trade_generator(bootstrap, new_topic, tmp_path):
    topic = new_topic(3)
    acked_csv = tmp_path / "acked.csv"
    proc = launched(TRADE_GENERATOR, bootstrap, tmp_path, "gen", serializer="msgpack", streams={"trades": topic},
                    rate_hz=2000, max_seconds=600, acked_csv=str(acked_csv))
    proc.start()
    try:
        wait_for(lambda: rows_in(acked_csv) >= 2000 or not proc.running, 90, "acknowledged trades")
        proc.signal(signal.SIGTERM)
        assert proc.wait(120) == 0, proc.output()[-2000:]
    finally:
        proc.kill()
    summary = generator_counters(proc.output())
    in_topic = sum(end_offsets(bootstrap, topic, False).values())
    acked = read_rows(acked_csv)
    assert ends_with_complete_line(acked_csv)
    assert summary["produced"] == summary["acked"] == len(acked) == in_topic, (summary, len(acked), in_topic)


# ---- 3. papermill ---------------------------------------------------------------------------------

@pytest.mark.timeout(900)  # three kernels start one after the other; a loaded machine takes its time
def test_papermill_stops(bootstrap, new_topic, group_id, tmp_path):
    topic, dlq = new_topic(3), new_topic(1, prefix="dlq")
    csv_path = tmp_path / "data" / "trades.csv"
    total = 0
    procs: list[ComponentProcess] = []

    def start_batch(n: int, name: str) -> ComponentProcess:
        nonlocal total
        produce_trades(bootstrap, topic, total + 1, n)
        total += n
        proc = sink_proc(bootstrap, tmp_path, topic, dlq, group_id, mode="notebook", label=name)
        procs.append(proc)
        proc.start()
        wait_for(lambda: rows_in(csv_path) >= total or not proc.running, 240, f"{name}: rows")
        assert proc.running, proc.output()[-2000:]
        return proc

    try:
        # a) SIGTERM to the kernel: the loop stops cleanly and papermill finishes normally
        proc = start_batch(1000, "kernel-sigterm")
        assert len(proc.component_pids()) == 1
        proc.signal(signal.SIGTERM)
        assert proc.wait(240) == 0, proc.output()[-2000:]
        assert proc.executed.exists()
        assert "SIGTERM received, stopping cleanly" in proc.output()
        committed_equals_written(bootstrap, group_id, topic, csv_path)

        # b) Ctrl-C to papermill: it interrupts the kernel (SIGINT), which stops cleanly; papermill
        # then reports the interrupted cell and exits non-zero
        proc = start_batch(500, "papermill-sigint")
        proc.popen.send_signal(signal.SIGINT)
        code = proc.wait(240)
        assert code is not None, "papermill did not end after Ctrl-C"
        assert "SIGINT received, stopping cleanly" in proc.output()
        committed_equals_written(bootstrap, group_id, topic, csv_path)

        # c) SIGTERM to papermill: no clean stop, but the kernel does not outlive it
        proc = start_batch(500, "papermill-sigterm")
        kernels = [psutil.Process(pid) for pid in proc.component_pids()]
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.wait(120) == -signal.SIGTERM
        gone, alive = psutil.wait_procs(kernels, timeout=60)
        assert not alive, "the kernel outlived papermill"

        # the next run resumes after the last row: nothing lost, nothing doubled
        produce_trades(bootstrap, topic, total + 1, 500)
        total += 500
        proc = sink_proc(bootstrap, tmp_path, topic, dlq, group_id, label="resumed")
        procs.append(proc)
        proc.start()
        wait_for(lambda: rows_in(csv_path) >= total or not proc.running, 120, "the restarted sink")
        proc.request_stop()
        assert proc.wait(120) == 0, proc.output()[-2000:]
    finally:
        for proc in procs:
            proc.kill()
    rows = read_rows(csv_path)
    assert sorted(int(r["trade_id"]) for r in rows) == list(range(1, total + 1))
    committed_equals_written(bootstrap, group_id, topic, csv_path)


# ---- 4. a sink fenced by its own group.instance.id rejoins ------------------------------------

def test_a_fenced_sink_rejoins_and_writes_everything_once(bootstrap, new_topic, group_id, tmp_path, capsys):
    """The sinks are static group members. When the coordinator fails over, Kafka may fence a
    member by its own instance id (seen in the broker-loss runs; apache/kafka#23542), a fatal
    consumer error. Here another consumer takes the sink's instance id on purpose: the sink must
    not sit idle forever - it rejoins, resumes after its CSV and writes every record once."""
    from confluent_kafka import Consumer

    from kafkalab.transports.kafka.sink import SinkSettings, TradesCsvSink, trades_target

    topic, dlq = new_topic(3), new_topic(1, prefix="dlq")
    produce_trades(bootstrap, topic, 1, 1000)
    sink = TradesCsvSink(SinkSettings(bootstrap, group_id, (trades_target(tmp_path / "data", topic),), dlq))
    thread, errors = start_in_thread(sink)
    csv_path = tmp_path / "data" / "trades.csv"
    try:
        wait_for(lambda: rows_in(csv_path) >= 1000 or not thread.is_alive(), 60, "the first rows")
        intruder = Consumer(clients.base_config(bootstrap, **{"group.id": group_id, "group.instance.id": sink.instance_id(),
                                                              **clients.CONSUMER_DEFAULTS}))
        intruder.subscribe([topic])
        deadline = time.monotonic() + 30
        while not intruder.assignment() and time.monotonic() < deadline:
            intruder.poll(0.2)
        intruder.close()  # a static member does not leave the group on close
        produce_trades(bootstrap, topic, 1001, 1000)
        wait_for(lambda: rows_in(csv_path) >= 2000 or not thread.is_alive(), 90, "rows after the fence")
    finally:
        sink.stop()
        thread.join(60)
    assert not errors, errors
    assert "rejoining the group" in capsys.readouterr().out  # it was fenced, and said so
    rows = read_rows(csv_path)
    assert sorted(int(r["trade_id"]) for r in rows) == list(range(1, 2001))


@pytest.mark.parametrize("intruder_kind", ["consumer", "producer"])
def test_a_fenced_processor_recovers_and_emits_every_candle_once(intruder_kind, bootstrap, new_topic, group_id,
                                                                 tmp_path, capsys):
    """The same for the processor. "consumer": its group member is fenced (as above); it aborts
    its open transaction, rejoins and rebuilds its windows from the committed offsets.
    "producer": another producer takes its transactional.id, so its transactional producer is
    fenced for good (a fatal error, as INVALID_TXN_STATE after a long broker outage); it starts
    a new producer and rejoins. Either way every candle is emitted exactly once."""
    from confluent_kafka import Producer

    from confluent_kafka import Consumer

    from kafkalab import config as lab_config
    from kafkalab.transports.kafka.processor import MarketProcessor, Topics

    names = Topics(new_topic(3, prefix="ft"), new_topic(3, prefix="fb"), new_topic(1, prefix="fc"),
                   new_topic(1, prefix="ff"), new_topic(1, prefix="fd"))
    base = now_us() - 30_000_000
    trades: list[Trade] = []

    def produce_window_run(first: int, n: int) -> None:
        batch = []
        for i in range(first, first + n):
            symbol = ("AAPL", "NVDA", "GOOG")[i % 3]
            batch.append(Trade(symbol, i, 100.0 + (i * 7) % 13, 1.0 + i % 4, "buy", base + i * 10_000, now_us()))
        with clients.producer(bootstrap) as producer:
            for t in batch:
                value, headers = serde.encode(t, "json")
                producer.produce(names.trades, key=t.symbol.encode(), value=value, headers=headers)
        trades.extend(batch)

    processor = MarketProcessor(lab_config.load(bootstrap_servers=bootstrap), group_id=group_id, topics=names,
                                idle_timeout_ms=1500)
    produce_window_run(1, 600)  # 6 s of event time
    thread, errors = start_in_thread(processor)
    try:
        wait_for(lambda: processor.counters["candles"] > 0 or not thread.is_alive(), 60, "the first candles")
        if intruder_kind == "consumer":
            intruder = Consumer(clients.base_config(bootstrap, **{"group.id": group_id,
                                                                  "group.instance.id": f"{group_id}-0",
                                                                  **clients.CONSUMER_DEFAULTS}))
            intruder.subscribe([names.trades, names.orderbooks])
            deadline = time.monotonic() + 30
            while not intruder.assignment() and time.monotonic() < deadline:
                intruder.poll(0.2)
            intruder.close()
        else:
            intruder = Producer(clients.base_config(bootstrap, **{"transactional.id": f"{group_id}-0"}))
            intruder.init_transactions(30)  # bumps the epoch: the processor's producer is fenced
            intruder.flush(5)
        produce_window_run(601, 600)
        expected = {(t.symbol, t.event_ts_us - t.event_ts_us % 1_000_000) for t in trades}
        wait_for(lambda: not thread.is_alive() or LagProbe(bootstrap).lag(group_id, [names.trades]) == 0
                 and processor.counters["candles"] >= len(expected), 90, "every window")
        time.sleep(2)
    finally:
        processor.stop()
        thread.join(60)
    assert not errors, errors
    said = capsys.readouterr().out
    assert ("rejoining the group" if intruder_kind == "consumer" else "restarting the Kafka clients") in said
    got = []
    with clients.consumer(bootstrap, f"{group_id}-read", [names.candles]) as consumer:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                if got:
                    break
                continue
            if msg.error() is None:
                got.append(serde.decode(msg.value(), msg.headers()))
    keys = [(c.symbol, c.window_start_us) for c in got]
    assert len(keys) == len(set(keys)), "a candle was emitted twice"
    assert set(keys) == expected
    by_key = {(c.symbol, c.window_start_us): c for c in got}
    for (symbol, start) in expected:
        window = [t for t in trades if t.symbol == symbol and start <= t.event_ts_us < start + 1_000_000]
        assert by_key[(symbol, start)].trade_count == len(window)
