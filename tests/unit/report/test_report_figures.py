"""Every report plot: a Figure with a title and labelled axes; captions state numbers from the data.

The tables are small, written by hand with the columns each benchmark module documents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from kafkalab.report import catalog, results
from kafkalab.report.figures import clients, load, replication, scaling, serializers, transports
from kafkalab.report.figures import pipeline as pipeline_figures
from kafkalab.report.figures import profiles as profile_figures
from kafkalab.report.figures.common import apply
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
    fig = pipeline_figures.plot_prices_and_candles(pipeline["trades"], pipeline["candles"])
    assert_labelled(fig)
    caption = pipeline_figures.caption_prices_and_candles(pipeline["trades"], pipeline["candles"])
    assert "300 trades" in caption and f"{len(pipeline['candles'])} one-second candles" in caption


def test_latency_cdf_and_caption(pipeline):
    assert_labelled(pipeline_figures.plot_latency_cdf(pipeline))
    caption = pipeline_figures.caption_latency(pipeline)
    assert "trades from generator p50 2 ms" in caption
    # Candles honestly from their window's end (the desk's wait) and from the processor (the Kafka hops).
    assert "candles from window end p50 605 ms" in caption and "candles from processor p50 5 ms" in caption
    assert "book features from processor p50 7 ms" in caption


def test_message_rates(pipeline):
    rates = results.message_rates(pipeline)
    fig = pipeline_figures.plot_message_rates(rates)
    assert_labelled(fig)
    # One panel per stream: what goes in beside what comes out, both lines drawn.
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any(t.startswith("trades:") for t in titles) and any(t.startswith("candles") for t in titles)
    trades_panel = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("trades:"))
    assert [line.get_label() for line in trades_panel.get_lines()] == ["in: trade generator", "out: trades sink"]
    assert "trade generator 10/s" in pipeline_figures.caption_message_rates(rates)


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
    for plot in catalog.BY_NAME["serializers"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
        assert apply(plot.caption, frame, {})
    assert "avro 40 %" in serializers.caption_serializer_sizes(frame)


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
    for plot in catalog.BY_NAME["producer"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
        assert apply(plot.caption, frame, {})
    caption = clients.caption_producer(frame)
    assert "0.6× Java" in caption and "4× its defaults" in caption
    assert "reference runs" not in caption  # none in these rows


def test_the_producer_caption_quotes_the_long_reference_runs_per_size():
    frame = _producer()
    reference = [{**RUN, "cell": f"{size}B-acks_all-batch_on-none-reference", "client": client, "variant": "reference",
                  "record_bytes": size, "acks": "all", "batching": "on", "compression": "none", "seconds": 20.0,
                  "records_per_s": rate, "ratio_to_java": ratio}
                 for size, client, rate, ratio in ((1024, "java", 150_000, 1.0), (1024, "confluent-kafka", 180_000, 1.2),
                                                   (100, "java", 600_000, 1.0), (100, "confluent-kafka", 528_000, 0.88))]
    frame = pd.concat([frame, pd.DataFrame(reference)], ignore_index=True)
    for plot in catalog.BY_NAME["producer"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
    assert ("the reference runs (20 s each after a warm-up, Java given as many records; acks=all, batching on, no "
            "compression): confluent-kafka 0.88× at 100 B, 1.2× at 1,024 B of Java") in clients.caption_producer(frame)


def test_consumer_plots():
    rows = [{**RUN, "client": c, "variant": v, "record_bytes": 100, "compression": "none", "records_per_s": r,
             "mb_per_s": r / 1e4, "ratio_to_java": r / 200_000}
            for c, v, r in (("java", "defaults", 200_000), ("confluent-kafka", "batch", 150_000),
                            ("kafka-python", "tuned", 50_000))]
    frame = pd.DataFrame(rows)
    for plot in catalog.BY_NAME["consumer"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
        assert apply(plot.caption, frame, {})
    assert "confluent-kafka (batch) 0.75× Java" in clients.caption_consumer(frame)


def test_scaling_plots():
    rows, timeline = [], []
    for p in (1, 2):
        for i in (1, 2):
            rows.append({**RUN, "cell": f"p{p}-i{i}", "partitions": p, "instances": i, "records_per_s": 1000 * min(p, i),
                         "worker_cores": 0.5 * min(p, i), "broker_cores": 0.6})
            timeline += [{**RUN, "cell": f"p{p}-i{i}", "partitions": p, "instances": i, "t_s": t, "lag": max(0, 100 - 50 * t)}
                         for t in range(4)]
    frame, tl = pd.DataFrame(rows), pd.DataFrame(timeline)
    for plot in catalog.BY_NAME["scaling"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
        assert apply(plot.caption, frame, {})
    assert_labelled(scaling.plot_scaling_timeline(tl))
    assert "2 partition(s) with 2 instance(s) at 2,000 records/s, 2× one instance" in scaling.caption_scaling(frame)
    assert "zero after 2 s" in scaling.caption_scaling_timeline(tl)


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
    assert_labelled(replication.plot_replication_throughput(summary))
    assert_labelled(replication.plot_failure_timeline(timeline))
    caption = apply(catalog.BY_NAME["replication_timeline"].plots[0].caption, timeline, {"replication": summary})
    assert "of 5,000 acknowledged records 0 were lost" in caption and "kill at 3 s" in caption


def test_reliability_timeline_per_scenario_and_its_caption():
    from kafkalab.report.figures import reliability

    seconds = [{**RUN, "scenario": sc, "t_s": t, "acks": 0 if 4 <= t < 7 else 500,
                "partitions_silent": 6 if 4 <= t < 7 else 0,
                "event": {4: "partition broker 2 for 20 s", 7: "healed (12 packets dropped)"}.get(t, "")}
               for sc in ("partition-leader", "loss-5pct") for t in range(12)]
    timeline = pd.DataFrame(seconds)
    summary = pd.DataFrame([{**RUN, "scenario": "partition-leader", "acked": 18_426, "lost": 0, "duplicated": 0,
                             "candle_mismatches": 0, "ack_resume_s": 29.3, "ack_gap_max_s": 9.67},
                            {**RUN, "scenario": "latency-100ms", "acked": 9_000, "lost": 0, "duplicated": 0,
                             "candle_mismatches": 0, "ack_resume_s": 0.6, "ack_gap_max_s": 0.4,
                             "ack_latency_before_ms": 12.0, "ack_latency_during_ms": 236.0,
                             "ack_latency_others_ms": 11.0}])
    fig = reliability.plot_reliability_timeline(timeline)
    assert_labelled(fig)
    assert len([ax for ax in fig.axes if ax.get_title(loc="left")]) == 2  # one panel per scenario
    caption = apply(catalog.BY_NAME["reliability_timeline"].plots[0].caption, timeline, {"reliability": summary})
    assert "partition-leader: 18,426 acknowledged, 0 lost, 0 duplicated" in caption and "29.3 s" in caption
    assert "slowed broker's partitions 236 ms during the fault (other partitions 11 ms, before the fault 12 ms)" in caption
    assert caption.count("produce-to-ack") == 1  # only the latency scenario has those columns filled


def test_pipeline_under_load():
    frame = pd.DataFrame([{**RUN, "kind": "load", "offered_hz": hz, "achieved_hz": hz, "trades_p50_ms": 2.0,
                           "trades_p99_ms": 9.0, "sink_lag_max": 0, "processor_lag_max": 3, "sustained": hz < 1000}
                          for hz in (10, 100, 1000)] + [{**RUN, "kind": "max_sustained", "max_sustained_hz": 500}])
    assert_labelled(load.plot_pipeline_latency(frame))
    caption = load.caption_pipeline(frame)
    assert "at 10 Hz offered, trades p50 2 ms and p99 9 ms" in caption and "500 trades/s" in caption


def cpu_load(hz: float, sustained: bool, processor: float, sink: float, brokers: float, us: float) -> dict:
    other = {"cpu_pct_trade_generator": 10.0, "cpu_pct_orderbook_generator": 2.0, "cpu_pct_candles_sink": 3.0}
    total = processor + sink + brokers + sum(other.values())
    return {**RUN, "kind": "load", "offered_hz": hz, "achieved_hz": hz, "sustained": sustained, "producer_linger_ms": 5,
            **other, "cpu_pct_market_processor": processor, "cpu_pct_trades_sink": sink, "cpu_pct_brokers": brokers,
            "cpu_pct_total": total, "cpu_window_s": 4.0, "cpu_us_per_trade": us, "cpu_bound_hz": 2e6 / us}


def test_pipeline_cpu_per_load_and_its_ceiling():
    frame = pd.DataFrame([cpu_load(10, True, 1.0, 1.0, 5.0, 22_000.0), cpu_load(8_000, True, 60.0, 40.0, 55.0, 212.5),
                          cpu_load(16_000, False, 70.0, 45.0, 60.0, 125.0)])
    fig = load.plot_pipeline_cpu(frame)
    assert_labelled(fig)
    [ax] = fig.axes
    assert "the machine: 2 cores" in ax.get_legend_handles_labels()[1]
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "16,000/s\nnot sustained"
    caption = load.caption_pipeline_cpu(frame)
    assert ("Highest sustained load: at 8,000 trades/s the processes used 170 % of one core (85 % of the machine's "
            "2 cores), the market processor most (60 %), 212 µs of CPU per trade, so the cores would carry about "
            "9,412 trades/s") in caption
    assert "highest load (not sustained): at 16,000 trades/s" in caption and "about 16,000 trades/s" in caption
    assert "stays the same" in caption
    # the catalog draws it beside the latency plot, and Part 4 states its ceiling against the goal
    assert load.plot_pipeline_cpu in [p.draw for p in catalog.BY_NAME["pipeline"].plots]
    from kafkalab.report.sections import part4

    assert ("at 8,000 trades/s, the highest load it sustained, the pipeline's processes spent 212 µs of CPU per "
            "trade, so at that cost the machine's 2 cores carry about 9,412 trades/s, 5.3× short of the goal."
            ) in part4.pipeline_cpu_sentence(frame)
    assert part4.pipeline_cpu_sentence(None) == "" == part4.pipeline_cpu_sentence(frame[["kind", "achieved_hz"]])


def test_a_machine_far_from_busy_implies_no_ceiling():
    from kafkalab.report.sections import part4

    quick = pd.DataFrame([cpu_load(10, True, 1.0, 1.0, 40.0, 58_000.0), cpu_load(200, True, 5.0, 8.0, 100.0, 6_736.0)])
    caption = load.caption_pipeline_cpu(quick)  # 200/s: 128 % of 200, below the saturated share
    assert "6,736 µs of CPU per trade, mostly fixed costs at a machine under 80% busy: no ceiling" in caption, caption
    assert "would carry" not in caption and "assumes" not in caption
    sentence = part4.pipeline_cpu_sentence(quick)
    assert "shows no ceiling in these rows: at its highest load the machine was 64 % busy" in sentence, sentence
    assert "short of the goal" not in sentence


def test_pipeline_cpu_without_the_cpu_columns_says_so():
    old = pd.DataFrame([{**RUN, "kind": "load", "offered_hz": 10, "achieved_hz": 10, "sustained": True}])
    fig = load.plot_pipeline_cpu(old)
    assert_labelled(fig)
    assert "no CPU columns" in " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "No CPU per load" in load.caption_pipeline_cpu(old)
    # a load too short for a window leaves its columns empty: it is left out, not drawn as 0
    mixed = pd.concat([old.assign(cpu_pct_total=np.nan), pd.DataFrame([cpu_load(100, True, 5, 5, 10, 4_000.0)])])
    caption = load.caption_pipeline_cpu(mixed)
    assert "at 100 trades/s" in caption and "at 10 trades/s" not in caption


def test_generator_rate():
    frame = pd.DataFrame([{**RUN, "mode": "max", "settings": s, "serializer": f, "records_per_s": r}
                          for s, f, r in (("defaults", "json", 20_000), ("tuned", "json", 30_000))]
                         + [{**RUN, "mode": "paced", "settings": "defaults", "serializer": "json", "target_rate_hz": 10,
                             "records_per_s": 10.0, "rate_error_pct": -0.5}])
    assert_labelled(load.plot_generator_rate(frame))
    assert "tuned settings with json at 30,000 trades/s" in load.caption_generator(frame)


# ---- Part 3 and Part 4: tables built from the documented columns -------------------------------

def _transports() -> pd.DataFrame:
    """results/bench/transports.csv as the contract documents it: long, one row per measurement."""
    rows = []
    for transport, durability, rate, p99, cpu in (("kafka", "acks=all RF3 min.isr2", 50_000, 12.0, 80.0),
                                                 ("rabbitmq", "confirms + quorum queues RF3", 8_000, 6.0, 60.0),
                                                 ("zeromq", "none (at-most-once)", 200_000, 0.5, None)):
        common = {**RUN, "transport": transport, "durability": durability, "client": "py", "client_version": "1"}
        rows.append({**common, "metric": "publish_rate_max", "value": rate, "unit": "msg/s"})
        rows.append({**common, "metric": "sustained_rate", "value": rate / 2, "unit": "msg/s"})
        for hz in (10, 1000):
            rows.append({**common, "metric": "latency_p50_ms", "value": p99 / 4, "unit": "ms", "rate_hz": hz})
            rows.append({**common, "metric": "latency_p99_ms", "value": p99, "unit": "ms", "rate_hz": hz})
        if cpu is not None:
            rows.append({**common, "metric": "broker_cpu_pct", "value": cpu, "unit": "%"})
            rows.append({**common, "metric": "lost_under_consumer_kill", "value": 0, "unit": "count"})
        else:
            rows.append({**common, "metric": "gaps_counted", "value": 17, "unit": "count"})
            for metric, value in (("bare_socket_latency_p50_ms", 0.4), ("bare_socket_latency_p99_ms", 0.6)):
                rows.append({**common, "metric": metric, "value": value, "unit": "ms", "rate_hz": 10})
        if transport == "kafka":
            rows.append({**common, "metric": "duplicates_under_consumer_kill", "value": 0, "unit": "count"})
        for component, share in (("trade-generator", 0.5), ("market-processor", 0.3), ("trades-sink", 0.2)):
            rows.append({**common, "metric": "component_cpu_pct", "value": (cpu or 50.0) * share, "unit": "%",
                         "component": component, "rate_hz": 1000})
            rows.append({**common, "metric": "component_rss_mib", "value": 100.0, "unit": "MiB",
                         "component": component, "rate_hz": 1000})
    return pd.DataFrame(rows)


def test_transport_comparison_plots_and_captions():
    frame = _transports()
    for plot in catalog.BY_NAME["transports"].plots:
        assert_labelled(apply(plot.draw, frame, {}))
    rates = transports.caption_transport_rates(frame)
    assert rates.startswith("kafka (acks=all RF3 min.isr2): most a publisher sent 50,000 msg/s")
    assert "zeromq (none (at-most-once))" in rates and "gaps counted: 17" in rates
    assert "lost under consumer kill: 0" in rates
    latency = transports.caption_transport_latency(frame)
    assert "p99 at 1,000/s: kafka 12 ms, rabbitmq 6 ms, zeromq 0.5 ms" in latency
    # the bare socket's floor is named apart, not mixed into ZeroMQ's pipeline figure
    assert "p50 at 10/s: kafka 3 ms, rabbitmq 1.5 ms, zeromq 0.125 ms" in latency, latency
    assert "at 10/s with nothing but a timestamp: p50 0.4 ms, p99 0.6 ms; 1-min load" in latency, latency
    assert "kafka (acks=all RF3 min.isr2): most a publisher sent 50,000 msg/s, sustained end to end 25,000 msg/s, " \
           "lost under consumer kill: 0, duplicates under consumer kill: 0" in rates, rates
    usage = transports.caption_component_usage(frame)
    assert usage.startswith("Median over repeats at 1,000 trades/s: kafka: its 3 components together 80 % of one "
                            "core, the busiest trade-generator (40 %), the broker 80 %"), usage
    zeromq = usage.split("zeromq: ")[1]
    assert zeromq.startswith("its 3 components together 50 % of one core, the busiest trade-generator (25 %)")
    assert "broker" not in zeromq  # ZeroMQ has none


def test_component_usage_without_component_rows_says_which_command_measures_it():
    frame = _transports()
    frame = frame[~frame["metric"].str.startswith("component_")].drop(columns="component")
    assert "run kafkalab bench transports" in transports.caption_component_usage(frame)
    assert_labelled(transports.plot_component_usage(frame))


def _profile_summary() -> pd.DataFrame:
    return pd.DataFrame([{**RUN, "transport": "kafka", "component": c, "rate_hz": 0, "serializer": "msgpack",
                          "runs": 3, "loop_mean_us": m, "records_per_s_sd": r / 20,
                          "loop_sd_us": m / 10, "records_per_s": r, "top_own_time": "decode (41 %)"}
                         for c, m, r in (("market-processor", 120.0, 7_500), ("trades-sink", 40.0, 20_000))])


def test_profile_summary_plot_and_caption():
    frame = _profile_summary()
    assert profile_figures.loop_columns(frame) == ("loop_mean_us", "loop_sd_us")
    assert_labelled(profile_figures.plot_loop_times(frame))
    caption = profile_figures.caption_loop_times(frame)
    assert "kafka / market-processor / msgpack / 0: 120 ± 12 µs at 7,500 records/s" in caption
    assert profile_figures.top_function_columns(frame) == ["top_own_time"]


def test_a_summary_without_loop_times_is_a_clear_error_not_a_plot():
    with pytest.raises(ValueError, match="loop-iteration mean"):
        profile_figures.plot_loop_times(pd.DataFrame({"component": ["x"], "records_per_s": [1.0]}))


# ---- the catalog: which table the report shows where ---------------------------------------------

def test_the_catalog_names_each_table_once_in_a_known_section():
    from kafkalab.bench import EXPERIMENTS
    from kafkalab.report import sections

    names = [t.name for t in catalog.TABLES]
    assert len(names) == len(set(names))
    assert {t.section for t in catalog.TABLES} <= set(sections.SECTIONS)
    # Every experiment named is one `kafkalab bench` knows (transports: registered by its own module).
    unknown = {t.experiment for t in catalog.TABLES} - set(EXPERIMENTS) - {"transports"}
    assert not unknown, unknown
    # `make run` runs the report-set: it must produce every table the report shows, but for the
    # experiments named (with the reason) as too long for it.
    from kafkalab.bench import REPORT_SET, selected

    assert {t.experiment for t in catalog.TABLES} - set(catalog.NOT_IN_MAKE_RUN) <= set(REPORT_SET)
    assert not set(catalog.NOT_IN_MAKE_RUN) & set(REPORT_SET)
    assert set(catalog.NOT_IN_MAKE_RUN) <= set(EXPERIMENTS)
    names, quick = selected("report-set")
    assert quick and names == [n for n in REPORT_SET if n in EXPERIMENTS]
    assert selected("all") == (list(EXPERIMENTS), False) and selected("scaling") == (["scaling"], False)
    assert catalog.command_for("deepdive_keys") == "kafkalab bench deepdives"
    assert catalog.command_for("scaling_timeline") == "kafkalab bench scaling"


def test_every_part_of_the_assignment_has_its_heading():
    from kafkalab.report import sections

    heads = sections.headings()
    for part in ("Part 1", "Bonus 1", "Part 2", "Bonus 2", "Part 3", "Bonus 3", "Part 4", "Bonus 4", "Reflection",
                 "Appendix"):
        assert any(h.startswith(part) for h in heads), part
    assert "What are the tasks of the components?" in heads
    assert sum(h.startswith("Deep dive:") for h in heads) >= 2


# ---- the component diagram and the command table -------------------------------------------------

def test_the_diagram_runs_top_to_bottom_with_readable_labels_and_no_back_edges():
    import re

    from kafkalab import config as lab_config
    from kafkalab.report.architecture import diagram

    dot = diagram.component_diagram_dot(lab_config.load())
    assert "rankdir=TB" in dot
    # A back edge (constraint=false) or a port hop is what made flows cross before.
    assert "constraint=false" not in dot and "tailport" not in dot
    sizes = [int(s) for s in re.findall(r"fontsize=(\d+)", dot)]
    assert min(sizes) >= 10, sizes
    edges = re.findall(r"^\s*(\w+) -> (\w+)", dot, re.MULTILINE)
    assert ("t_trades", "processor") in edges and ("processor", "t_candles") in edges


def test_the_report_lists_every_cli_command_without_importing_the_cli():
    import ast
    from pathlib import Path

    from kafkalab.cli import build_parser
    from kafkalab.commands import COMMAND_HELP

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    # The parser's commands that exist in this checkout, each with a line in the table.
    assert set(sub.choices) <= set(COMMAND_HELP), set(sub.choices) - set(COMMAND_HELP)
    assert {"cluster", "topics", "run", "bench", "report"} <= set(sub.choices)
    report_dir = Path(catalog.__file__).parent
    for module in report_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith(("kafkalab.cli", "kafkalab.pipeline")) for n in names), module


def test_the_decode_caption_quotes_the_default_format_and_the_range():
    from kafkalab.report.sections.part4 import decode_caption

    rows = pd.DataFrame([{"message_type": t, "format": f, "reference_us": ref, "fast_us": fast, "speedup": ref / fast}
                         for t, f, ref, fast in (("trade", "msgpack", 13.9, 3.5), ("orderbook", "msgpack", 144.1, 40.5),
                                                 ("orderbook", "avro", 106.6, 64.8))])
    caption = decode_caption(rows)
    assert "trade 13.9 → 3.5 µs per record (3.97×)" in caption
    assert "1.65× to 3.97× over every format and type" in caption


def test_the_part3_answers_get_our_figures_and_say_when_the_publisher_waited():
    frame = _transports()
    common = {**RUN, "durability": "d", "client": "py", "client_version": "1", "unit": "%"}
    frame = pd.concat([frame, pd.DataFrame([
        {**common, "transport": "rabbitmq", "metric": "publisher_cpu_pct", "value": 28.0},
        {**common, "transport": "kafka", "metric": "publisher_cpu_pct", "value": 95.0}])], ignore_index=True)
    tradeoffs = transports.measured_tradeoffs(frame)
    assert tradeoffs.startswith("Measured here, each transport at its own durability: one publisher reached kafka "
                                "50,000 msg/s, rabbitmq 8,000 msg/s, zeromq 200,000 msg/s; the median latency at "
                                "10 records/s was kafka 3 ms"), tradeoffs
    assert "restarted lost kafka 0 with 0 rows doubled, rabbitmq 0" in tradeoffs, tradeoffs
    costs = transports.measured_costs(frame)
    assert "kafka: the publisher 95 % of one core, the broker 80 %;" in costs, costs  # busy: it did not wait
    assert ("rabbitmq: the publisher 28 % of one core, the broker 60 % (the publisher waited on the broker's "
            "acknowledgements more than half the time)") in costs, costs
    # rows from before the ladder said what stopped it: the ceilings alone
    assert "sustained kafka 25,000 trades/s, rabbitmq 4,000 trades/s, zeromq 100,000 trades/s;" in costs, costs
    assert transports.measured_tradeoffs(None) == transports.measured_costs(frame.iloc[:0]) == ""


def test_the_scaling_answer_names_each_pipeline_ceiling_and_what_stopped_the_next_rung():
    common = {**RUN, "durability": "d", "client": "kafkalab run", "client_version": "", "unit": "msg/s",
              "metric": "sustained_rate"}
    frame = pd.DataFrame([{**common, "transport": "kafka", "value": 10_000.0,
                           "stopped_by": "20,000/s not sustained: trades p99 3.10 s after produced"},
                          {**common, "transport": "zeromq", "value": 20_000.0, "stopped_by": "every rung sustained"}])
    costs = transports.measured_costs(frame)
    assert costs.startswith("The whole pipeline, one process per component on this machine, sustained kafka "
                            "10,000 trades/s, zeromq 20,000 trades/s (then kafka 20,000/s not sustained: trades "
                            "p99 3.10 s after produced; zeromq sustained the top rung of its ladder)"), costs
    assert costs.endswith(".") and ".." not in costs, costs
