"""Every report plot: a Figure with a title and labelled axes; captions state numbers from the data.

The tables are small, written by hand with the columns each benchmark module documents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from kafkalab.report import figures as F
from kafkalab.report import results
from kafkalab.core.market import MarketSimulator
from kafkalab.core.windowing import candles_of

T0 = 1_736_173_800_000_000
RUN = {"run_id": "r1", "run_at": "2025-01-06T14:30:00+00:00", "machine_cores": 2, "load_avg_1m": 1.5}


def assert_labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert axes, "no axes"
    has_title = bool(fig._suptitle and fig._suptitle.get_text()) or all(ax.get_title(loc="center") or
                                                                         ax.get_title(loc="left") for ax in axes)
    assert has_title, "no title"
    for ax in axes:
        # Shared axes label the outer row/column only; each axes needs one of its labels
        # or a neighbour that carries it.
        assert ax.get_xlabel() or any(o.get_xlabel() for o in axes), "no x label"
        assert ax.get_ylabel() or any(o.get_ylabel() for o in axes), "no y label"
    units = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in axes)
    assert "(" in units, f"axis labels without units: {units!r}"


@pytest.fixture(scope="module")
def pipeline() -> dict[str, pd.DataFrame]:
    sim = MarketSimulator(seed=3)
    trades = [sim.next_trade(T0 + i * 100_000, T0 + i * 100_000 + 50) for i in range(300)]
    trade_rows = pd.DataFrame([t.to_record() for t in trades])
    trade_rows["written_ts_us"] = trade_rows["produced_ts_us"] + 2_000
    candle_rows = pd.DataFrame([c.to_record() for c in candles_of(trades, produced_ts_us=0)])
    candle_rows["produced_ts_us"] = candle_rows["window_end_us"] + 600_000
    candle_rows["written_ts_us"] = candle_rows["produced_ts_us"] + 5_000
    features = pd.DataFrame({
        "symbol": "AAPL", "window_start_us": T0 + np.arange(30) * 1_000_000, "snapshot_count": 4,
        "produced_ts_us": T0 + np.arange(1, 31) * 1_000_000, "written_ts_us": T0 + np.arange(1, 31) * 1_000_000 + 7_000,
    })
    return {"trades": trade_rows, "candles": candle_rows, "book_features": features}


def test_prices_and_candles(pipeline):
    fig = F.plot_prices_and_candles(pipeline["trades"], pipeline["candles"])
    assert_labelled(fig)
    caption = F.caption_prices_and_candles(pipeline["trades"], pipeline["candles"])
    assert "300 trades" in caption and f"{len(pipeline['candles'])} one-second candles" in caption


def test_latency_cdf_and_caption(pipeline):
    assert_labelled(F.plot_latency_cdf(pipeline))
    caption = F.caption_latency(pipeline)
    assert "trades p50 2 ms" in caption and "candles p50 5 ms" in caption and "book features p50 7 ms" in caption


def test_message_rates(pipeline):
    rates = results.message_rates(pipeline)
    assert_labelled(F.plot_message_rates(rates))
    assert "trade generator 10/s" in F.caption_message_rates(rates)


def _serializers() -> pd.DataFrame:
    rows = []
    for fmt, scale in (("json", 1.0), ("msgpack", 0.8), ("avro", 0.4)):
        for mtype, size in (("trade", 130), ("orderbook", 1400)):
            rows.append({**RUN, "kind": "codec", "format": fmt, "message_type": mtype, "bytes_per_msg": size * scale,
                         "encode_us": 5 * scale, "decode_us": 20 * scale, "quick": False})
            rows.append({**RUN, "kind": "producer", "format": fmt, "message_type": mtype, "compression": "lz4",
                         "repeat": 1, "records_per_s": 10_000 / scale, "quick": False})
    return pd.DataFrame(rows)


def test_serializer_plots():
    frame = _serializers()
    for _, plot, caption in F.BENCH_PLOTS["serializers"]:
        assert_labelled(plot(frame))
        assert caption(frame, {})
    assert "avro 40 %" in F.caption_serializer_sizes(frame)


def _producer() -> pd.DataFrame:
    rows = []
    for size in (100, 1024):
        for acks in ("1", "all"):
            for client, rate in (("java", 100_000), ("confluent-kafka", 60_000), ("kafka-python", 20_000)):
                rows.append({**RUN, "cell": f"{size}B-{acks}", "client": client, "variant": "grid", "record_bytes": size,
                             "acks": acks, "batching": "on", "compression": "lz4", "records_per_s": rate,
                             "ratio_to_java": rate / 100_000})
    for client, variant, rate in (("java", "defaults", 90_000), ("confluent-kafka", "defaults", 50_000),
                                  ("kafka-python", "defaults", 5_000), ("kafka-python", "defaults-pure-crc", 4_000)):
        rows.append({**RUN, "cell": "100B-defaults", "client": client, "variant": variant, "record_bytes": 100,
                     "acks": "default", "batching": "default", "compression": "default", "records_per_s": rate,
                     "ratio_to_java": rate / 90_000})
    return pd.DataFrame(rows)


def test_producer_plots_and_ratio_caption():
    frame = _producer()
    for _, plot, caption in F.BENCH_PLOTS["producer"]:
        assert_labelled(plot(frame))
    caption = F.caption_producer(frame)
    assert "0.6× Java" in caption and "4× its defaults" in caption


def test_consumer_plots():
    rows = [{**RUN, "client": c, "variant": v, "record_bytes": 100, "compression": "none", "records_per_s": r,
             "mb_per_s": r / 1e4, "ratio_to_java": r / 200_000}
            for c, v, r in (("java", "defaults", 200_000), ("confluent-kafka", "batch", 150_000),
                            ("kafka-python", "tuned", 50_000))]
    frame = pd.DataFrame(rows)
    for _, plot, caption in F.BENCH_PLOTS["consumer"]:
        assert_labelled(plot(frame))
    assert "confluent-kafka (batch) 0.75× Java" in F.caption_consumer(frame)


def test_scaling_plots():
    rows, timeline = [], []
    for p in (1, 2):
        for i in (1, 2):
            rows.append({**RUN, "cell": f"p{p}-i{i}", "partitions": p, "instances": i, "records_per_s": 1000 * min(p, i),
                         "worker_cores": 0.5 * min(p, i), "broker_cores": 0.6})
            timeline += [{**RUN, "cell": f"p{p}-i{i}", "partitions": p, "instances": i, "t_s": t, "lag": max(0, 100 - 50 * t)}
                         for t in range(4)]
    frame, tl = pd.DataFrame(rows), pd.DataFrame(timeline)
    for _, plot, caption in F.BENCH_PLOTS["scaling"]:
        assert_labelled(plot(frame))
    assert_labelled(F.plot_scaling_timeline(tl))
    assert "2 partition(s) with 2 instance(s) at 2,000 records/s, 2× one instance" in F.caption_scaling(frame)
    assert "zero after 2 s" in F.caption_scaling_timeline(tl)


def test_replication_and_failure_timeline():
    rows = [{**RUN, "kind": "throughput", "client": c, "replication_factor": rf, "acks": a, "record_bytes": 1024,
             "records_per_s": 1000 / rf, "latency_p99_ms": 10 * rf, "rf3_vs_rf1": 1 / rf if rf == 3 else 1.0}
            for c in ("java", "confluent-kafka") for rf in (1, 3) for a in ("1", "all")]
    rows.append({**RUN, "kind": "failure", "acked": 5000, "lost": 0, "duplicates": 0, "longest_stall_s": 3.0,
                 "isr_full_after_restart_s": 4.0})
    summary = pd.DataFrame(rows)
    timeline = pd.DataFrame({**RUN, "t_s": range(10), "sent": 100, "acked": [100] * 4 + [0] * 2 + [100] * 4,
                             "errors": 0, "client_errors": 0, "latency_p99_ms": 5.0, "latency_max_ms": 9.0,
                             "event": [None, None, None, "kill", None, None, "restart", None, None, None]})
    assert_labelled(F.plot_replication_throughput(summary))
    assert_labelled(F.plot_failure_timeline(timeline))
    caption = F.BENCH_PLOTS["replication_timeline"][0][2](timeline, {"replication": summary})
    assert "of 5,000 acknowledged records 0 were lost" in caption and "kill at 3 s" in caption


def test_pipeline_under_load():
    frame = pd.DataFrame([{**RUN, "kind": "load", "offered_hz": hz, "achieved_hz": hz, "trades_p50_ms": 2.0,
                           "trades_p99_ms": 9.0, "sink_lag_max": 0, "processor_lag_max": 3, "sustained": hz < 1000}
                          for hz in (10, 100, 1000)] + [{**RUN, "kind": "max_sustained", "max_sustained_hz": 500}])
    assert_labelled(F.plot_pipeline_latency(frame))
    caption = F.caption_pipeline(frame)
    assert "at 10 Hz offered, trades p50 2 ms and p99 9 ms" in caption and "500 trades/s" in caption


def test_generator_rate():
    frame = pd.DataFrame([{**RUN, "mode": "max", "settings": s, "serializer": f, "records_per_s": r}
                          for s, f, r in (("defaults", "json", 20_000), ("tuned", "json", 30_000))]
                         + [{**RUN, "mode": "paced", "settings": "defaults", "serializer": "json", "target_rate_hz": 10,
                             "records_per_s": 10.0, "rate_error_pct": -0.5}])
    assert_labelled(F.plot_generator_rate(frame))
    assert "tuned settings with json at 30,000 trades/s" in F.caption_generator(frame)
