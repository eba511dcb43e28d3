"""Deep-dive data for the report, measured on the real cluster (small CSVs the report plots).

Four topics, each with the lab's use case (trades keyed by symbol), one module each:

1. Consumer groups and rebalancing (deepdives.rebalance): which member consumes which
   partition when members join and leave, per assignment strategy and group protocol.
2. Partitions and keys (deepdives.keys): where each key lands, computed and observed, and
   how records spread over the partitions for five key choices.
3. Offsets and reprocessing (deepdives.offsets): the trades sink replays a topic with a
   new group, the old group, and from a point in time.
4. Retention and compaction (deepdives.compaction): what a compacted log holds before and
   after the cleaner ran, and the settings that decide when it runs.

CSV files (results/bench/, plus run_id, run_at, machine, versions and `quick` on every row):
deepdive_rebalance_events.csv  strategy, t_s, consumer, event (join | leave | assigned |
                               revoked | lost), partitions ("0 3 5"), n_partitions
deepdive_rebalance_timeline.csv  strategy, t_s (bucket start, BUCKET_S wide), partition,
                               consumer, records, latency_max_ms (produce -> consume)
deepdive_rebalance.csv         strategy, change ("c2 joins"...), t_s, stalled_partitions
                               (a gap > STALL_S), max_pause_s, moved_partitions,
                               latency_max_ms (in the step after the change), records,
                               duplicates (per strategy: records consumed twice)
deepdive_keys.csv              scenario, partitioner, partition, records, share,
                               distinct_symbols, symbols, max_partitions_per_symbol
deepdive_key_map.csv           key, partitions, partitioner, partition_computed,
                               partition_observed, matches
deepdive_offsets.csv           scenario, group, rows_expected, rows_written, equal,
                               mismatched_rows, seconds, committed_offsets (the old group's
                               committed offsets summed over partitions, before the rerun)
deepdive_compaction.csv        phase (written | before-cleaning | after-cleaning), records,
                               distinct_keys, tombstones, latest_value_ok, seconds
deepdive_retention_settings.csv  scope (broker | topic), name, value
"""

from __future__ import annotations

from typing import Callable

from tqdm import tqdm

from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.config import LabConfig
from kafkalab.bench.common import append_rows
from kafkalab.bench.deepdives.common import Tables
from kafkalab.bench.deepdives.compaction import compaction_deepdive
from kafkalab.bench.deepdives.keys import keys_deepdive
from kafkalab.bench.deepdives.offsets import offsets_deepdive
from kafkalab.bench.deepdives.rebalance import QUICK_SCRIPT, STRATEGIES, RebalancePlan, rebalance_deepdive

EXPERIMENT = "deepdives"


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    plan = (RebalancePlan(("cooperative-sticky",), 7.0, QUICK_SCRIPT) if quick
            else RebalancePlan(tuple(STRATEGIES), 8.0))
    parts: list[Callable[[object], Tables]] = [
        lambda progress: rebalance_deepdive(config, plan, progress),
        lambda progress: keys_deepdive(config, 1_200 if quick else 12_000, progress),
        # The idle run waits out the old static member's session (10 s) in the full run.
        lambda progress: offsets_deepdive(config, 600 if quick else 6_000, 5.0 if quick else 12.0, progress),
        lambda progress: compaction_deepdive(config, 20 if quick else 50, 10 if quick else 30,
                                             60.0 if quick else 90.0, progress),
    ]
    written = 0
    with tqdm(total=len(parts), desc="deepdives", unit="topic") as progress:
        for part in parts:
            for name, rows in part(progress).items():  # each topic's tables as soon as it is done
                written += append_rows(config.bench_dir / f"deepdive_{name}.csv",
                                       [{**row, "quick": quick} for row in rows])
            progress.update(1)
    return written
