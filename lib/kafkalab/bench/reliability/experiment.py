"""The reliability experiment: every scenario on a private cluster, one row each in reliability.csv."""

from __future__ import annotations

from kafkalab.bench.reliability.scenarios import LATENCY_SCENARIOS, NETWORK_SCENARIOS, run_scenario, select, unavailable
from kafkalab.config import LabConfig

RELIABILITY_BASE_PORT = 29092


def _fault_seconds(scenario: str, quick: bool) -> float:
    """How long a broker stays down, or a network fault lasts (30 s: longer than the 9 s after
    which the controller fences a silent broker, so the partitions it led move)."""
    if scenario in NETWORK_SCENARIOS or scenario in LATENCY_SCENARIOS:
        return 15.0 if quick else 30.0
    return 8.0 if quick else 12.0


def run(config: LabConfig, quick: bool = False, scenarios: str | None = None) -> int:
    """Start a private cluster, run the chosen scenarios on it (`scenarios`: comma-separated
    names, default all), append the figures, stop the cluster."""
    from dataclasses import replace as dc_replace

    from kafkalab.transports.kafka.cluster import LocalCluster
    from kafkalab.bench.common import append_rows

    chosen = select(scenarios)  # an unknown name fails before the cluster starts
    cluster_config = dc_replace(config.cluster, base_port=RELIABILITY_BASE_PORT,
                                run_dir=config.project_root / ".run" / "reliability-cluster")
    cluster = LocalCluster(cluster_config, echo=lambda m: print(f"[reliability cluster] {m}", flush=True))
    cluster.down()
    cluster.wipe()
    cluster.up()
    rows, timeline = [], []
    try:
        for scenario in chosen:
            missing = unavailable(scenario, cluster)
            if missing:
                print(f"reliability: scenario {scenario} skipped: {missing}", flush=True)
                continue
            rate = 500.0 if quick else 1000.0
            print(f"reliability: scenario {scenario} at {rate:g} trades/s ...", flush=True)
            result = run_scenario(cluster, scenario, config.runs_dir / "reliability", trade_rate_hz=rate,
                                  down_s=_fault_seconds(scenario, quick),
                                  echo=lambda m: print(f"reliability: {m}", flush=True))
            row = result.row()
            row["quick"] = quick
            rows.append(row)
            timeline += [{"scenario": scenario, **second} for second in result.timeline]
            print("reliability: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "generator_errors"), flush=True)
            for failure in result.component_failures:
                print(f"reliability: PROBLEM: {failure}", flush=True)
    finally:
        cluster.down()
    append_rows(config.bench_dir / "reliability.csv", rows)
    append_rows(config.bench_dir / "reliability_timeline.csv", timeline)
    print(f"reliability: {len(rows)} rows appended to {config.bench_dir / 'reliability.csv'}, the seconds "
          f"of each scenario to reliability_timeline.csv", flush=True)
    return 0
