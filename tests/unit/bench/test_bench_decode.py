"""The decode benchmark: both paths timed side by side, one row per format x type."""

from __future__ import annotations

import pytest

from kafkalab.bench import EXPERIMENTS, NO_CLUSTER
from kafkalab.bench.decode import Settings, measure


def test_rows_time_both_paths_for_every_format():
    rows = measure(Settings(messages=5, repeats=1), types=("trade", "orderbook"))
    assert [(r["message_type"], r["format"]) for r in rows] == [
        (t, f) for t in ("trade", "orderbook") for f in ("json", "msgpack", "avro")]
    for r in rows:
        assert r["reference_us"] > 0 and r["fast_us"] > 0 and r["codec_us"] > 0
        # the speedup is rounded from the unrounded medians: within half a cent of the rounded ones' ratio
        assert r["speedup"] == pytest.approx(r["reference_us"] / r["fast_us"], abs=0.006)
        assert abs(r["fast_records_per_s"] - 1e6 / r["fast_us"]) < 0.01 * r["fast_records_per_s"]
        assert {"load_avg_1m", "machine_cpu_percent", "messages", "repeats"} <= r.keys()


def test_registered_and_needs_no_broker():
    assert EXPERIMENTS["decode"] == "decode" and "decode" in NO_CLUSTER
