"""The reliability experiment: every scenario on a private cluster, one row each in reliability.csv."""

from __future__ import annotations

from kafkalab.bench.reliability.scenarios import SCENARIOS, run_scenario
from kafkalab.config import LabConfig

RELIABILITY_BASE_PORT = 29092


def run(config: LabConfig, quick: bool = False) -> int:
    """Start a private cluster, run every scenario on it, append the figures, stop the cluster."""
    from dataclasses import replace as dc_replace

    from kafkalab.transports.kafka.cluster import LocalCluster
    from kafkalab.bench.common import append_rows

    cluster_config = dc_replace(config.cluster, base_port=RELIABILITY_BASE_PORT,
                                run_dir=config.project_root / ".run" / "reliability-cluster")
    cluster = LocalCluster(cluster_config, echo=lambda m: print(f"[reliability cluster] {m}", flush=True))
    cluster.down()
    cluster.wipe()
    cluster.up()
    rows = []
    try:
        for scenario in SCENARIOS:
            rate = 500.0 if quick else 1000.0
            print(f"reliability: scenario {scenario} at {rate:g} trades/s ...", flush=True)
            result = run_scenario(cluster, scenario, config.runs_dir / "reliability", trade_rate_hz=rate,
                                  down_s=8.0 if quick else 12.0,
                                  echo=lambda m: print(f"reliability: {m}", flush=True))
            row = result.row()
            row["quick"] = quick
            rows.append(row)
            print("reliability: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "generator_errors"), flush=True)
            for failure in result.component_failures:
                print(f"reliability: PROBLEM: {failure}", flush=True)
    finally:
        cluster.down()
    append_rows(config.bench_dir / "reliability.csv", rows)
    print(f"reliability: {len(rows)} rows appended to {config.bench_dir / 'reliability.csv'}", flush=True)
    return 0
