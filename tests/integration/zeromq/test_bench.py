"""bench.py's rows have the contract's shape (one short measurement; the full set is `measure`)."""

from kafkalab.transports.zeromq import bench

CONTRACT_KEYS = {"transport", "metric", "value", "unit", "durability", "client", "client_version"}


def test_latency_rows_at_10_hz_have_the_contract_columns_and_sane_values(lab):
    rows = bench.latency(lab, 10, 2.0)
    assert [r["metric"] for r in rows] == ["latency_p50_ms", "latency_p99_ms"]
    for row in rows:
        assert CONTRACT_KEYS <= set(row) and row["transport"] == "zeromq" and row["rate_hz"] == 10
        assert row["durability"] == "none (at-most-once)" and row["unit"] == "ms"
        assert "trades in 2 s" in row["setting"] and row["load_avg_1m"] >= 0
    assert 0 < rows[0]["value"] <= rows[1]["value"]


def test_the_whole_pipeline_reports_cpu_and_memory_of_every_component(lab):
    from kafkalab.bench.transports import component_usage
    from kafkalab.runtime.params import COMPONENTS, MARKET_PROCESSOR, TRADE_GENERATOR, TRADES_SINK

    rows = component_usage(lab, "zeromq", bench.DURABILITY, quick=True, seconds=3.0)
    cpu = {r["component"]: r["value"] for r in rows if r["metric"] == "component_cpu_pct"}
    rss = {r["component"]: r["value"] for r in rows if r["metric"] == "component_rss_mib"}
    assert set(cpu) == set(rss) == set(COMPONENTS)
    # a steady window was measured for every component (NaN otherwise); the candles sink and the
    # order-book generator handle a few records a second and may use less than a clock tick in 3 s
    assert all(value >= 0 for value in cpu.values()), cpu
    # the three that carry 1,000 records/s cannot idle through it
    assert all(cpu[name] > 0 for name in (TRADE_GENERATOR, MARKET_PROCESSOR, TRADES_SINK)), cpu
    assert all(20 < value < 2048 for value in rss.values()), rss
    # at 1,000 trades/s the trade generator works harder than the order-book one (4/s)
    assert cpu["trade-generator"] > cpu["orderbook-generator"], cpu
    assert all(r["transport"] == "zeromq" and r["rate_hz"] == 1000 and "3 s" in r["setting"] for r in rows)


def test_the_bare_socket_floor_times_every_frame_and_is_kept_apart_from_the_pipeline_figure():
    rows = bench.bare_socket_latency(10, 2.0)
    assert [r["metric"] for r in rows] == ["bare_socket_latency_p50_ms", "bare_socket_latency_p99_ms"]
    assert all(CONTRACT_KEYS <= set(r) and r["rate_hz"] == 10 and "20 frames in 2 s" in r["setting"] for r in rows)
    assert 0 < rows[0]["value"] <= rows[1]["value"]



def test_the_sustained_ladder_counts_what_was_handed_to_the_socket_and_stops_at_a_rate_out_of_reach(lab):
    from kafkalab.bench.transports import run_rung, sustained_rate

    rung = run_rung(lab, "zeromq", 500, 2.0)
    assert rung.stored == rung.sent > 0, rung  # nothing killed: nothing lost, and "produced" was read back
    unreachable = 1_000_000  # trades/s, the highest a generator accepts: no Python generator gets near it
    [row] = sustained_rate(lab, "zeromq", bench.DURABILITY, quick=True, ladder=(unreachable,), seconds=2.0)
    assert CONTRACT_KEYS <= set(row) and row["metric"] == "sustained_rate" and row["value"] == 0
    assert row["stopped_by"].startswith(f"{unreachable:,}/s not sustained: the generator reached "), row["stopped_by"]
