"""Bonus 4: the processor's bottleneck, records per transaction, before and after.

Profiled at saturation, one processor instance used a quarter of a core while it drained a
backlog: it was not computing but waiting, on the two round trips every exactly-once step
ends with (the input offsets into the transaction, then its commit). Those cost the same for
ten records or ten thousand, so the step size is what sets the drain rate. The old step size
(OLD_BATCH_SIZE) and the processor's current one (processor.BATCH_SIZE) drain the same backlog
here, interleaved, in one run; everything else (the exactly-once processor, acks=all, RF 3) is
unchanged. The backlog is written before the instance starts, so the figure is the instance's
own drain rate, not that of the producer writing the backlog.

results/bench/batching.csv: one row per drain, scaling's columns plus `variant`
("before"/"after"), `batch_size` and `repeat`; batching_timeline.csv: the lag sampled during each.
"""

from __future__ import annotations

from contextlib import ExitStack

from tqdm import tqdm

from kafkalab.bench import scaling
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import trade_backlog
from kafkalab.config import LabConfig
from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.transports.kafka.processor import BATCH_SIZE

EXPERIMENT = "batching"
OLD_BATCH_SIZE = 1000  # the processor's step size before this experiment
VARIANTS = (("before", OLD_BATCH_SIZE), ("after", BATCH_SIZE))
PARTITIONS, INSTANCES = 6, 1
REPEATS, QUICK_REPEATS = 3, 1
RECORDS, QUICK_RECORDS = 120_000, 30_000


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)
    repeats = QUICK_REPEATS if quick else REPEATS
    backlog = trade_backlog(QUICK_RECORDS if quick else RECORDS, config.serializer, scaling.SYMBOLS,
                            scaling.TRADES_PER_EVENT_SECOND)
    rows, timeline = [], []
    with tqdm(total=repeats * len(VARIANTS), desc="batching", unit="drain") as progress:
        for repeat in range(1, repeats + 1):
            for variant, batch_size in VARIANTS:  # interleaved: a noisy minute hits both alike
                with ExitStack() as stack:
                    topics = scaling.topics_for(config, stack, PARTITIONS)
                    row, samples = scaling.run_cell(config, topics, PARTITIONS, INSTANCES, backlog, progress,
                                                    batch_size=batch_size, prefill=True)
                rows.append({**row, "variant": variant, "repeat": repeat, "serializer": config.serializer,
                             "quick": quick})
                append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [rows[-1]])
                timeline += [{**s, "variant": variant, "repeat": repeat, "quick": quick} for s in samples]
                progress.update(1)
    append_rows(config.bench_dir / f"{EXPERIMENT}_timeline.csv", timeline)
    scaling.raise_if_failed(EXPERIMENT, rows, "variant")
    return len(rows)
