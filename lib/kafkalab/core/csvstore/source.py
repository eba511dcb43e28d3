"""Which source a CSV was written from, so positions of an earlier source never hide new records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping

from kafkalab.core.csvstore.files import fsync_dir, state_path


def source_path(csv_path: Path) -> Path:
    return state_path(csv_path, ".source.json")


def claim_csv(csv_path: Path, source: Mapping[str, str]) -> Path | None:
    """Bind `csv_path` to `source` (for Kafka: the topic and its topic id).

    If the file was written from another source (e.g. a topic that has since been deleted and
    recreated, whose offsets restarted at 0), move it aside so its positions cannot hide new
    records; returns where it went, else None.
    """
    csv_path, sidecar = Path(csv_path), source_path(csv_path)
    wanted = dict(source)
    moved = None
    if csv_path.exists() and sidecar.exists():
        try:
            known = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            known = {}
        if {k: known.get(k) for k in wanted} != wanted:
            moved = csv_path.with_name(f"{csv_path.stem}.{time.strftime('%Y%m%dT%H%M%S')}{csv_path.suffix}")
            csv_path.rename(moved)
    if moved is not None or not sidecar.exists() or not csv_path.exists():
        tmp = sidecar.with_suffix(".tmp")
        tmp.write_text(json.dumps(wanted) + "\n")
        tmp.replace(sidecar)
        fsync_dir(sidecar.parent)
    return moved
