"""Part 2's Kafka Streams figure and caption, from rows shaped like results/bench/streams.csv."""

from __future__ import annotations

import pandas as pd

from kafkalab.report import catalog
from kafkalab.report.figures.common import apply
from kafkalab.report.figures.streams import caption_streams, engines, plot_streams, ratio


def _frame(latency: bool = False) -> pd.DataFrame:
    # Kafka Streams first, as a CSV of other runs might order them: the figure puts Python first.
    rows = [{"engine": "streams", "records": 60000, "records_per_s": 40000.0, "cpu_per_1k_records_ms": 20.0,
             "peak_rss_mib": 310.0, "partitions": 3, "load_avg_1m": 2.5, "machine_cores": 2, "quick": True},
            {"engine": "python", "records": 60000, "records_per_s": 12000.0, "cpu_per_1k_records_ms": 55.5,
             "peak_rss_mib": 140.0, "partitions": 3, "load_avg_1m": 1.75, "machine_cores": 2, "quick": True}]
    if latency:
        for row, (p50, p99, count) in zip(rows, ((620.0, 900.0, 140), (650.0, 1200.0, 150))):
            row.update(latency_rate_hz=10, candle_p50_ms=p50, candle_p99_ms=p99, latency_candles=count,
                       candle_written_p50_ms=p50 + 100, candle_written_p99_ms=p99 + 300)
    return pd.DataFrame(rows)


def test_engines_are_python_first_with_medians_over_their_drains():
    frame = pd.concat([_frame(), _frame().assign(records_per_s=[44000.0, 14000.0])])
    table = engines(frame)
    assert list(table.index) == ["python", "streams"]
    assert table.loc["python", "records_per_s"] == 13000 and table.loc["streams", "records_per_s"] == 42000
    assert table.loc["python", "drains"] == 2
    assert ratio(table) == 13000 / 42000


def test_the_caption_quotes_rates_ratio_goal_cpu_rss_and_load():
    text = caption_streams(_frame())
    assert "60,000 trades each on 3 partitions" in text
    assert "Python processor drained 12,000 records/s, Kafka Streams 40,000" in text
    assert "ratio python/streams 0.3 (goal ≥ 0.5: not reached)" in text
    assert "55.5 ms against 20 ms" in text and "140 MiB against 310 MiB" in text
    assert "load average during the run 1.8–2.5 on 2 cores" in text and "--quick" in text
    assert "latency" not in text and "window's end" not in text


def test_the_goal_is_reached_from_half_of_streams_rate():
    assert "0.5 (goal ≥ 0.5: reached)" in caption_streams(_frame().assign(records_per_s=[40000.0, 20000.0]))


def test_the_caption_adds_the_latency_when_measured():
    text = caption_streams(_frame(latency=True))
    assert "at 10 trades/s, candles emitted after their window's end p50 650 ms / p99 1,200 ms (Python)" in text
    assert "against 620 / 900 ms (Kafka Streams)" in text
    assert "written by the sink p50 750 / p99 1,500 ms against 720 / 1,200 ms, over 150 and 140 candles" in text


def test_one_engine_only_says_so():
    assert caption_streams(_frame().query("engine == 'python'")).startswith("Only Python processor was measured")


def test_the_figure_has_one_bar_per_engine_in_each_panel():
    fig = plot_streams(_frame())
    rate, cpu, rss = fig.axes
    assert [p.get_height() for p in rate.patches] == [12000, 40000]
    assert [p.get_height() for p in cpu.patches] == [55.5, 20]
    assert [p.get_height() for p in rss.patches] == [140, 310]
    assert [t.get_text() for t in rate.get_xticklabels()] == ["Python processor", "Kafka Streams"]
    assert all(ax.get_title() and ax.get_ylabel() for ax in fig.axes)


def test_the_figure_gets_a_latency_panel_when_measured():
    fig = plot_streams(_frame(latency=True))
    latency = fig.axes[3]
    assert [p.get_height() for p in latency.patches] == [650, 1200, 620, 900]  # Python's p50, p99, then Streams'
    assert "10 trades/s" in latency.get_title()


def test_the_catalog_shows_it_in_part2_and_make_run_measures_it():
    from kafkalab.bench import REPORT_SET

    table = catalog.BY_NAME["streams"]
    assert table.section == "part2" and table.experiment == "streams" and "streams" in REPORT_SET
    assert catalog.command_for("streams") == "kafkalab bench streams"
    plot = table.plots[0]
    assert apply(plot.caption, _frame(), {}) == caption_streams(_frame())
