"""What every benchmark table records: the machine, the versions, the settings.

Rows are appended to results/bench/<experiment>.csv so repeated runs accumulate;
each row carries a run id and time so the report can pick the latest run.
"""

from __future__ import annotations

import csv
import os
import platform
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import psutil


@lru_cache(maxsize=1)
def machine_info() -> dict[str, str]:
    import confluent_kafka
    import kafka

    from kafkalab.config import KAFKA_VERSION

    return {
        "machine_cores": str(os.cpu_count()),
        "machine_mem_gib": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "machine_cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "kafka_version": KAFKA_VERSION,
        "confluent_kafka": confluent_kafka.__version__,  # version() is a plain str in 2.16: [0] gave "2"
        "librdkafka": confluent_kafka.libversion()[0],
        "kafka_python": kafka.__version__,
    }


RUN_ID = uuid.uuid4().hex[:12]


def append_rows(path: Path, rows: Iterable[Mapping[str, object]]) -> int:
    """Append rows (machine info, run id and time added); widen the header if needed."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [{"run_id": RUN_ID, "run_at": stamp, **row, **machine_info()} for row in rows]
    if not rows:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    old_rows: list[dict] = []
    if path.exists():
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            old_rows = list(reader)
            old_columns = reader.fieldnames or []
        columns = list(dict.fromkeys([*old_columns, *columns]))
        if old_columns == columns:
            with path.open("a", newline="") as f:
                csv.DictWriter(f, columns).writerows(rows)
            return len(rows)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(old_rows + rows)
    tmp.replace(path)
    return len(rows)
