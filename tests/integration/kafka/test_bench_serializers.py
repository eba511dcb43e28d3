"""The serializers benchmark runs (quick) against the real cluster and writes its table."""

from __future__ import annotations

import csv

import pytest

from kafkalab import config as lab_config
from kafkalab.core import serde
from kafkalab.bench import run_experiment
from kafkalab.bench.serializers import MESSAGE_TYPES, QUICK, THROUGHPUT_TYPES, sample_messages

CODEC_COLUMNS = {"bytes_per_msg", "bytes_min", "bytes_max", "json_size_ratio", "encode_us", "decode_us",
                 "codec_encode_us", "codec_decode_us", "encode_best_us", "decode_best_us"}
PRODUCER_COLUMNS = {"records", "payload_bytes", "seconds", "records_per_s", "mb_per_s", "acks", "compression",
                    "stored_bytes_per_record"}
COMMON_COLUMNS = {"run_id", "kind", "format", "message_type", "msgpack_version", "fastavro_version", "python"}


@pytest.mark.timeout(300)
def test_quick_serializers_benchmark_writes_every_row(kafka_cluster, tmp_path):
    config = lab_config.load(results_dir=tmp_path, bootstrap_servers=kafka_cluster.bootstrap_servers)
    run_experiment(config, "serializers", quick=True)

    with (tmp_path / "bench" / "serializers.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames)
        rows = list(reader)
    assert COMMON_COLUMNS | CODEC_COLUMNS | PRODUCER_COLUMNS <= columns

    codec = {(r["format"], r["message_type"]): r for r in rows if r["kind"] == "codec"}
    assert set(codec) == {(f, t) for f in serde.FORMATS for t in MESSAGE_TYPES}
    for row in codec.values():
        assert float(row["bytes_per_msg"]) > 0 and float(row["encode_us"]) > 0 and float(row["decode_us"]) > 0
        assert row["msgpack_version"] and row["fastavro_version"]
    for mtype in MESSAGE_TYPES:  # the ratio is relative to JSON
        assert float(codec["json", mtype]["json_size_ratio"]) == 1.0
        assert float(codec["avro", mtype]["bytes_per_msg"]) < float(codec["json", mtype]["bytes_per_msg"])

    produced = [r for r in rows if r["kind"] == "producer"]
    assert {(r["format"], r["message_type"]) for r in produced} == {(f, t) for f in serde.FORMATS for t in THROUGHPUT_TYPES}
    for row in produced:
        assert int(row["records"]) == QUICK.throughput_records[row["message_type"]]
        assert float(row["records_per_s"]) > 0 and row["acks"] == "all"
        # lz4 may shrink similar records a lot, but record overhead and headers never make one
        # take more than a few hundred bytes beyond its payload.
        payload = int(row["payload_bytes"]) / int(row["records"])
        assert 0 < float(row["stored_bytes_per_record"]) < payload + 500


def test_sample_messages_are_valid_and_reproducible():
    first, second = sample_messages(30), sample_messages(30)
    assert first == second
    for mtype, messages in first.items():
        assert len(messages) == 30
        for message in messages:
            assert message.TYPE == mtype
            message.validate()
