"""`kafkalab profile` on a real cluster, small bounds: .prof files, pictures and a sane summary."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import pytest

from kafkalab import config as lab_config
from kafkalab.bench.profile import add_profile_commands, profile, workloads
from kafkalab.runtime.profiling import top_functions

pytestmark = pytest.mark.timeout(600)


def summary(results: Path) -> list[dict[str, str]]:
    with (results / "profiles" / "summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def counters(row: dict[str, str]) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in row["counters"].split())}


def test_profile_command_profiles_a_sink_twice_and_once_under_py_spy(bootstrap, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(lab_config.ENV_RESULTS_DIR, str(tmp_path))
    parser = argparse.ArgumentParser()
    add_profile_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["profile", "trades-sink", "--runs", "2", "--records", "300", "--seconds", "120",
                              "--serializer", "json"])
    assert args.func(args) == 0

    out = tmp_path / "profiles"
    for name in ("kafka-trades-sink-max-json-1.prof", "kafka-trades-sink-max-json-2.prof",
                 "kafka-trades-sink-max-json-all.prof", "kafka-trades-sink-max-json-callgraph.svg",
                 "kafka-trades-sink-max-json-flame.svg"):
        assert (out / name).stat().st_size > 0, name
    assert "<svg" in (out / "kafka-trades-sink-max-json-callgraph.svg").read_text()[:500]
    [row] = summary(tmp_path)
    assert (row["transport"], row["component"], row["serializer"], row["runs"]) == ("kafka", "trades-sink", "json", "2")
    # the sink drained exactly its backlog in each run, and wrote every record
    assert float(row["records"]) == 300 and counters(row)["written"] == 300
    seconds = float(row["seconds_per_run"])
    assert 0 < seconds < 120
    # the mean of the runs' rates (each printed as it ended), not 300 / mean seconds: runs of unequal length differ
    printed = [float(r.replace(",", "")) for r in re.findall(r"run \d/2: 300 records in [\d.]+ s \(([\d,]+)/s\)",
                                                            capsys.readouterr().out)]
    assert len(printed) == 2 and float(row["records_per_s"]) == pytest.approx(sum(printed) / 2, abs=1.0)
    assert float(row["records_per_s"]) >= 300 / seconds * 0.99  # a mean of rates is at least the rate of the mean time
    assert 0 < float(row["loop_mean_us"]) < seconds * 1e6 and float(row["loop_sd_us"]) >= 0
    assert float(row["iterations"]) >= 1 and float(row["unprofiled_records_per_s"]) > 0
    assert 0 < float(row["cpu_us_per_record"]) < seconds * 1e6 / 300 and float(row["unprofiled_cpu_us_per_record"]) > 0
    # the profile is of the sink's loop: its step is on top by cumulative time, and decoding is in it
    assert "sink.py" in row["top_cumulative"]
    names = [f.function for f in top_functions([out / "kafka-trades-sink-max-json-all.prof"], "cumulative", 40)]
    assert any("decode" in name for name in names)
    assert "MainThread" in row["spy_threads"] and row["spy_top_frames"]
    assert float(row["load_avg_1m"]) >= 0
    functions = list(csv.DictReader((out / "functions.csv").open(newline="")))
    assert [int(f["rank"]) for f in functions] == list(range(1, len(functions) + 1)) and len(functions) >= 5


def test_serializers_and_a_paced_generator_measured_side_by_side(bootstrap, tmp_path):
    config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(tmp_path))
    cells = workloads("kafka", "market-processor", "max", "json,msgpack", 600, 120)
    rows = profile(config, cells, runs=1, sample=False, echo=lambda _line: None)
    # without cProfile: the loop timing and CPU figures only
    rows += profile(config, workloads("kafka", "trade-generator", "20", "msgpack", 1, 3), runs=1, sample=False,
                    echo=lambda _line: None, deterministic=False)
    processor = [r for r in rows if r["component"] == "market-processor"]
    assert [r["serializer"] for r in processor] == ["json", "msgpack"]
    for row in processor:
        assert row["records"] == 600
        assert counters(row)["trades"] + counters(row)["books"] == 600  # every record valid and windowed
        assert counters(row)["candles"] > 0 and counters(row)["dead_letters"] == 0
        assert row["records_per_s"] > 0 and row["loop_mean_us"] > 0
    [generator] = [r for r in rows if r["component"] == "trade-generator"]
    # paced at 20/s for about 3 s: the rate is honest (a little above: the first record is due at once)
    assert 10 <= generator["records_per_s"] <= 30
    experiments = list(csv.DictReader((tmp_path / "bench" / "profile_experiments.csv").open(newline="")))
    assert [(e["experiment"], e["serializer"]) for e in experiments] == [("serializer", "json"), ("serializer", "msgpack")]
    assert "flame_svg" not in generator and generator["cprofile"] is False and "top_own" not in generator
    assert generator["cpu_us_per_record"] > 0
    assert not (tmp_path / "profiles" / "kafka-trade-generator-20hz-msgpack-1.prof").exists()
