"""The benchmark experiments producer, consumer, scaling, batching, streams, replication and deepdives, run --quick.

Each writes into a temporary results folder on the real cluster of the session (the
replication experiment starts a private cluster of its own: it kills a broker). The checks
are about the tables - rows, columns, sanity of the figures, zero lost records - never
about speed (speed goes into results/bench/*.csv, not into assertions).
"""

from __future__ import annotations

import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.bench import batching, consumer, deepdives, explain, producer, replication, scaling, streams
from kafkalab.core.windowing import DEFAULT_ALLOWED_LATENESS_US

pytestmark = pytest.mark.slow

COMMON = ("run_id", "run_at", "machine_cores", "machine_mem_gib", "kafka_version", "quick")
FIGURES = ("records", "errors", "seconds", "records_per_s", "mb_per_s")


@pytest.fixture
def lab(bootstrap, tmp_path):
    return lab_config.load(bootstrap_servers=bootstrap, results_dir=tmp_path)


def table(lab, name: str) -> pd.DataFrame:
    path = lab.bench_dir / f"{name}.csv"
    assert path.exists(), f"{path} was not written"
    return pd.read_csv(path)


def has_columns(frame: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    assert not missing, f"missing columns {missing}"


def explained(name: str, frame: pd.DataFrame) -> str:
    text = explain.EXPLAINERS[name](frame)
    assert isinstance(text, str) and text.strip()
    return text


@pytest.mark.timeout(180)
def test_producer_quick(lab):
    producer.run(lab, quick=True)
    rows = table(lab, "producer")
    has_columns(rows, *COMMON, *FIGURES, "cell", "client", "variant", "record_bytes", "acks", "batching",
                "compression", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "ratio_to_java")
    assert set(rows["client"]) == {"java", "confluent-kafka", "kafka-python"}
    assert {"grid", "defaults", "tuned", "defaults-pure-crc"} <= set(rows["variant"])
    assert (rows["records"] > 0).all() and (rows["records_per_s"] > 0).all()
    assert (rows["errors"] == 0).all()
    assert rows["quick"].all()
    for cell, part in rows.groupby("cell"):
        java = part[part["client"] == "java"]
        assert len(java) == 1, cell
        assert java["ratio_to_java"].iloc[0] == 1.0
        python = part[part["client"] != "java"]
        expected = python["records_per_s"] / java["records_per_s"].iloc[0]
        assert (python["ratio_to_java"] - expected).abs().max() < 1e-3
    python = rows[rows["client"] != "java"]
    assert python["latency_p50_ms"].notna().all()
    assert (python["latency_p50_ms"] <= python["latency_p99_ms"]).all()
    assert "Java reference" in explained("producer", rows)
    # the long reference run (1 s in --quick): both clients on the headline setting, side by side
    reference = rows[rows["variant"] == "reference"]
    assert set(reference["client"]) == {"java", "confluent-kafka"}, reference
    assert set(reference["cell"]) == {"100B-acks_all-batch_on-none-reference"}
    assert (reference["records"] > 0).all() and reference["ratio_to_java"].notna().all()


@pytest.mark.timeout(240)
def test_consumer_quick(lab):
    consumer.run(lab, quick=True)
    rows = table(lab, "consumer")
    has_columns(rows, *COMMON, *FIGURES, "cell", "client", "variant", "record_bytes", "compression", "join_ms",
                "ratio_to_java")
    assert {(c, v) for c, v in zip(rows["client"], rows["variant"])} == set(consumer.RUNS)
    # Every client read the whole pre-filled topic, and nothing else.
    assert (rows["records"] == consumer.QUICK_RECORDS).all()
    assert (rows["records_per_s"] > 0).all() and (rows["errors"] == 0).all()
    assert explained("consumer", rows)


@pytest.mark.timeout(300)
def test_scaling_quick(lab):
    scaling.run(lab, quick=True)
    rows = table(lab, "scaling")
    has_columns(rows, *COMMON, *FIGURES, "cell", "processor", "partitions", "instances", "busy_instances",
                "per_instance", "lag_max", "worker_cores", "broker_cores", "candles")
    assert list(zip(rows["partitions"], rows["instances"])) == list(scaling.QUICK_CELLS)
    assert (rows["records"] == scaling.QUICK_RECORDS).all()
    assert (rows["errors"] == 0).all() and (rows["records_per_s"] > 0).all()
    assert (rows["candles"] > 0).all()  # the real processor closed windows and wrote candles
    assert (rows["busy_instances"] == rows[["instances", "partitions"]].min(axis=1)).all()
    timeline = table(lab, "scaling_timeline")
    assert set(timeline["cell"]) == set(rows["cell"])
    assert (timeline.groupby("cell")["lag"].min() == 0).all()
    assert explained("scaling", rows)


@pytest.mark.timeout(300)
def test_batching_quick_drains_the_same_backlog_into_the_same_candles_at_both_step_sizes(lab):
    batching.run(lab, quick=True)
    rows = table(lab, "batching")
    has_columns(rows, *COMMON, *FIGURES, "variant", "batch_size", "repeat", "transactions", "prefilled")
    assert list(zip(rows["variant"], rows["batch_size"])) == list(batching.VARIANTS) * batching.QUICK_REPEATS
    assert (rows["records"] == batching.QUICK_RECORDS).all() and (rows["errors"] == 0).all()
    assert rows["prefilled"].all()
    # the same windows closed either way; the bigger step needs fewer transactions for them
    assert rows["candles"].nunique() == 1 and rows["candles"].iloc[0] > 0
    before, after = (rows[rows["variant"] == v].iloc[0] for v in ("before", "after"))
    assert after["transactions"] < before["transactions"]
    timeline = table(lab, "batching_timeline")
    assert set(timeline["variant"]) == {"before", "after"} and (timeline.groupby("variant")["lag"].min() == 0).all()


@pytest.mark.timeout(300)
def test_streams_quick_measures_both_engines_on_the_same_backlog(lab):
    streams.run(lab, quick=True)
    rows = table(lab, "streams")
    has_columns(rows, *COMMON, "engine", "records", "records_per_s", "cpu_per_1k_records_ms", "peak_rss_mib",
                "load_avg_1m", "ratio_python_to_streams")
    assert list(rows["engine"]) == ["python", "streams"]
    assert (rows["records"] == streams.QUICK_RECORDS).all() and (rows["candles"] > 0).all()
    assert (rows["records_per_s"] > 0).all() and (rows["cpu_per_1k_records_ms"] > 0).all()
    assert (rows["peak_rss_mib"] > 0).all()
    python, kafka_streams = rows["records_per_s"]
    assert rows["ratio_python_to_streams"].iloc[0] == pytest.approx(python / kafka_streams, rel=1e-2)
    assert "candle_p50_ms" not in rows.columns  # the pipeline runs are the full grid's


@pytest.mark.timeout(300)
def test_streams_latency_runs_the_whole_pipeline_with_the_kafka_streams_processor(lab):
    row = streams.latency(lab, "streams", 8.0)
    # Candles came out of the whole pipeline; a window is emitted only after it ended, by at least the
    # allowed lateness, and written after it was emitted.
    assert row["latency_candles"] > 0 and row["latency_rate_hz"] == streams.LATENCY_RATE_HZ
    assert DEFAULT_ALLOWED_LATENESS_US / 1000 <= row["candle_p50_ms"] <= row["candle_p99_ms"]
    assert row["candle_written_p50_ms"] >= row["candle_p50_ms"]


@pytest.mark.timeout(480)
def test_replication_quick_loses_nothing(lab):
    """Starts its own cluster on REPLICATION_BASE_PORT, kills one broker mid-run."""
    replication.run(lab, quick=True)
    rows = table(lab, "replication")
    throughput = rows[rows["kind"] == "throughput"]
    assert sorted(zip(throughput["replication_factor"], throughput["acks"].astype(str))) == \
        [(1, "1"), (1, "all"), (3, "1"), (3, "all")]
    assert (throughput["records_per_s"] > 0).all() and (throughput["errors"] == 0).all()
    failure = rows[rows["kind"] == "failure"].iloc[0]
    assert failure["acked"] > 0
    assert failure["lost"] == 0
    assert failure["duplicates"] == 0
    assert failure["acked"] + failure["errors"] == failure["sent"]
    timeline = table(lab, "replication_timeline")
    has_columns(timeline, "t_s", "sent", "acked", "errors", "client_errors", "latency_p99_ms", "brokers_up", "event")
    events = " ".join(timeline["event"].dropna())
    assert "kill -9 broker" in events and "restart broker" in events
    assert timeline["brokers_up"].min() == 2  # one broker was really down for a while
    assert timeline["acked"].sum() == failure["acked"]
    assert "0 of them lost" in explained("replication", rows)


@pytest.mark.timeout(420)
def test_deepdives_quick(lab):
    deepdives.run(lab, quick=True)
    events = table(lab, "deepdive_rebalance_events")
    joiner = events[(events["consumer"] == "c2") & (events["event"] == "assigned") & (events["n_partitions"] > 0)]
    assert len(joiner), "the second member never got a partition"
    changes = table(lab, "deepdive_rebalance")
    assert list(changes["change"]) == ["c2 joins", "c2 leaves"]
    assert (changes["records"] > 0).all()
    timeline = table(lab, "deepdive_rebalance_timeline")
    assert set(timeline["partition"]) == set(range(6))

    key_map = table(lab, "deepdive_key_map")
    assert key_map["matches"].all(), key_map[~key_map["matches"]]
    keys = table(lab, "deepdive_keys")
    by_symbol = keys[keys["scenario"].str.startswith("symbol")]
    assert (by_symbol["max_partitions_per_symbol"] == 1).all()  # a keyed symbol stays in one partition
    assert ((keys.groupby(["scenario", "partitioner"])["share"].sum() - 1.0).abs() < 1e-3).all()

    offsets = table(lab, "deepdive_offsets")
    assert offsets["equal"].all(), offsets
    replay = offsets[offsets["scenario"].str.startswith("replay: new group, from the beginning")].iloc[0]
    assert replay["rows_written"] == replay["rows_expected"] > 0
    same = offsets[offsets["scenario"].str.startswith("same group")].iloc[0]
    assert same["rows_written"] == 0 and same["committed_offsets"] == replay["rows_expected"]

    compaction = table(lab, "deepdive_compaction").set_index("phase")
    assert compaction.loc["after-cleaning", "latest_value_ok"]
    # One record per key is left (tombstones included) of the many updates written.
    assert compaction.loc["after-cleaning", "records"] <= compaction.loc["written", "distinct_keys"]
    assert compaction.loc["written", "distinct_keys"] < compaction.loc["written", "records"]
    settings = table(lab, "deepdive_retention_settings")
    assert "log.retention.check.interval.ms" in set(settings["name"])
    for name in ("deepdive_rebalance", "deepdive_keys", "deepdive_key_map", "deepdive_offsets",
                 "deepdive_compaction", "deepdive_retention_settings"):
        explained(name, table(lab, name))
