"""Run statistics of ZeroMQ consumers: results/data/zeromq_stats.csv, one row per
(consumer, stream, producer) at the end of a run: what arrived, what is known missing."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Hashable, Mapping

from kafkalab.core.sequence import SequenceTracker

STATS_CSV = "zeromq_stats.csv"
# discarded: received, but not used (the processor's records in windows a gap made incomplete)
STATS_COLUMNS = ("run_at", "component", "stream", "producer", "received", "last_sequence", "gaps", "duplicates",
                 "discarded", "dropped_by_component")


def append_stats(data_dir: Path, component: str, tracker: SequenceTracker, dropped: int,
                 discarded: Mapping[Hashable, int] | None = None) -> Path:
    path = Path(data_dir) / STATS_CSV
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    run_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(STATS_COLUMNS)
        for (stream, producer), count in tracker.items():
            writer.writerow((run_at, component, stream, producer, count.received, count.last, count.gaps,
                             count.duplicates, (discarded or {}).get((stream, producer), 0), dropped))
    return path
