"""Short Markdown explanations of the benchmark and deep-dive tables, numbers from the data.

The report calls `EXPLAINERS[<table name>](frame)` with the latest run's rows of
results/bench/<table name>.csv and shows the Markdown it returns. Every number in the
text is computed here from the frame; nothing measured is typed in by hand. The
`*_figures` functions return the numbers themselves (for tests and for other text).

One module per benchmark family: clients (producer, consumer), scaling, replication and
deepdives; prose formats the numbers they write.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from kafkalab.bench.explain.clients import explain_consumer, explain_producer
from kafkalab.bench.explain.deepdives import (explain_deepdive_compaction, explain_deepdive_key_map,
                                              explain_deepdive_keys, explain_deepdive_offsets,
                                              explain_deepdive_rebalance, explain_deepdive_rebalance_events,
                                              explain_deepdive_retention_settings)
from kafkalab.bench.explain.replication import explain_replication, explain_replication_timeline
from kafkalab.bench.explain.scaling import explain_scaling, explain_scaling_timeline

EXPLAINERS: dict[str, Callable[[pd.DataFrame], str]] = {
    "producer": explain_producer,
    "consumer": explain_consumer,
    "scaling": explain_scaling,
    "scaling_timeline": explain_scaling_timeline,
    "replication": explain_replication,
    "replication_timeline": explain_replication_timeline,
    "deepdive_rebalance": explain_deepdive_rebalance,
    "deepdive_rebalance_events": explain_deepdive_rebalance_events,
    "deepdive_keys": explain_deepdive_keys,
    "deepdive_key_map": explain_deepdive_key_map,
    "deepdive_offsets": explain_deepdive_offsets,
    "deepdive_compaction": explain_deepdive_compaction,
    "deepdive_retention_settings": explain_deepdive_retention_settings,
}
