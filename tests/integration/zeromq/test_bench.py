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
