"""The profiler's report figures (kafkalab.report.sections.part4_profiles) on small tables."""

from __future__ import annotations

import pandas as pd
import pytest

from kafkalab.report.sections import part4_profiles as part4


def summary() -> pd.DataFrame:
    base = {"transport": "kafka", "runs": 3, "records_per_s_sd": 10.0, "load_avg_1m": 2.0}
    return pd.DataFrame([
        {**base, "run_at": "2026-12-01T20:00:00", "component": "market-processor", "rate_hz": 0.0,
         "serializer": "msgpack", "records_per_s": 100.0, "unprofiled_records_per_s": 300.0,
         "thread_cpu": "python 2.000s; rdk:broker1 0.300s; rdk:main 0.100s"},
        # a later command measured the same workload again: only this row counts
        {**base, "run_at": "2026-12-01T21:00:00", "component": "market-processor", "rate_hz": 0.0,
         "serializer": "msgpack", "records_per_s": 200.0, "unprofiled_records_per_s": 500.0,
         "thread_cpu": "python 1.000s; rdk:broker2 0.200s"},
        {**base, "run_at": "2026-12-01T21:00:00", "component": "market-processor", "rate_hz": 10.0,
         "serializer": "msgpack", "records_per_s": 10.0, "unprofiled_records_per_s": None, "thread_cpu": ""},
    ])


def test_the_latest_row_of_each_workload_is_kept():
    rows = part4.latest_per_workload(summary())
    assert list(rows["records_per_s"]) == [200.0, 10.0]
    assert part4.label(rows.iloc[0]) == "market-processor (saturation, msgpack)"
    assert part4.label(rows.iloc[1]) == "market-processor (10/s, msgpack)"


def test_records_per_s_figure_and_its_caption_use_the_same_numbers():
    fig = part4.plot_records_per_s(summary())
    assert fig.axes[0].get_xlabel().startswith("records per second")
    caption = part4.caption_records_per_s(summary())
    assert "200 ± 10/s profiled, 500/s without cProfile" in caption and "load average during the runs: 2.0" in caption


def test_thread_cpu_is_grouped_into_python_and_librdkafka_threads():
    assert part4.thread_groups("python 2.000s; rdk:broker1 0.300s; rdk:broker2 0.100s; rdk:main 0.100s") == \
        pytest.approx({"Python threads": 2.0, "librdkafka broker threads": 0.4, "librdkafka other threads": 0.1})
    assert part4.thread_groups("") == {}
    assert len(part4.plot_thread_cpu(summary()).axes) == 1


def test_top_functions_figure_shows_the_latest_saturation_profile_per_serializer():
    functions = pd.DataFrame([
        {"transport": "kafka", "component": "market-processor", "rate_hz": 0.0, "serializer": fmt,
         "run_at": "2026-12-01T21:00:00", "rank": rank, "function": f"f{rank}", "own_share": 0.5 / rank}
        for fmt in ("json", "msgpack") for rank in (1, 2, 3)])
    fig = part4.plot_top_functions(functions)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["f1", "f2", "f3"]
