"""The producer grid: its cells, the settings each client gets in a cell, and how much it sends."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

SIZES = (100, 1024, 10240)
ACKS = ("1", "all")
COMPRESSIONS = ("none", "lz4", "zstd")
# off: no waiting, Java's classic 16 KiB batches; on: wait up to 20 ms to fill ~1 MB batches.
BATCHING = {"off": (0, 16384), "on": (20, 1_000_000)}
# Records per cell by size: a few seconds of Java at the rates seen on 2 cores.
# Python clients run for SECONDS (or MAX_RECORDS, whichever first), after WARMUP_SECONDS.
SECONDS = 3.0
WARMUP_SECONDS = 0.5
MAX_RECORDS = {100: 3_000_000, 1024: 600_000, 10240: 60_000}
JAVA_MIN_RECORDS = {100: 20_000, 1024: 5_000, 10240: 500}
QUICK_RECORDS = 5_000
JAVA_BUFFER_MEMORY_KIB = 32 * 1024  # Java's buffer.memory default, 32 MiB
PYTHON_CLIENTS = ("confluent-kafka", "kafka-python")
# The reference runs: confluent-kafka and Java each send for about REFERENCE_SECONDS after a warm-up
# of a fifth of that (Java: as many --warmup-records), so JIT, connections and record budgets
# weigh as little as their authors would let them. Only the headline setting, per size.
REFERENCE_SECONDS, QUICK_REFERENCE_SECONDS = 20.0, 1.0
REFERENCE_WARMUP_SHARE = 0.2
REFERENCE_MAX_RECORDS = 50_000_000  # the time bound ends the run first


@dataclass(frozen=True)
class Cell:
    record_bytes: int
    acks: str = "all"
    batching: str = "on"  # off | on | default
    compression: str = "none"  # none | lz4 | zstd | default

    @property
    def is_defaults(self) -> bool:
        return self.batching == "default"

    @property
    def name(self) -> str:
        if self.is_defaults:
            return f"{self.record_bytes}B-defaults"
        return f"{self.record_bytes}B-acks_{self.acks}-batch_{self.batching}-{self.compression}"

    @property
    def idempotence(self) -> bool:
        return self.acks == "all"

    def settings(self) -> dict[str, object]:
        if self.is_defaults:
            return {"record_bytes": self.record_bytes, "acks": "default", "batching": "default",
                    "linger_ms": "", "batch_bytes": "", "compression": "default", "idempotence": "default"}
        linger, batch = BATCHING[self.batching]
        return {"record_bytes": self.record_bytes, "acks": self.acks, "batching": self.batching,
                "linger_ms": linger, "batch_bytes": batch, "compression": self.compression,
                "idempotence": self.idempotence}

    # The same settings spelled for each client.
    def java_props(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        linger, batch = BATCHING[self.batching]
        return {"acks": self.acks, "linger.ms": linger, "batch.size": batch,
                "compression.type": self.compression, "enable.idempotence": str(self.idempotence).lower()}

    def confluent_config(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        # The same 32 MiB of buffered records as Java's buffer.memory default (librdkafka would
        # queue up to 1 GiB, and its flush would then take minutes in the slow cells).
        return {**self.java_props(), "enable.idempotence": self.idempotence,
                "queue.buffering.max.kbytes": JAVA_BUFFER_MEMORY_KIB}

    def kafka_python_config(self) -> dict[str, object]:
        if self.is_defaults:
            return {}
        linger, batch = BATCHING[self.batching]
        return {"acks": -1 if self.acks == "all" else 1, "linger_ms": linger, "batch_size": batch,
                "compression_type": None if self.compression == "none" else self.compression,
                "enable_idempotence": self.idempotence}


@dataclass(frozen=True)
class Budget:
    """How much each client sends in one cell: bounded in time so the grid fits in minutes."""

    max_records: int
    seconds: float
    warmup_seconds: float
    java_seconds: float
    java_min: int

    def java_records(self, expected_rate: float) -> int:
        return int(min(max(expected_rate * self.java_seconds, self.java_min), self.max_records))


class JavaPacer:
    """Guesses Java's rate in a cell, to size its record count (it takes no time limit).

    The first guess is the fastest Python client's rate in the cell; after that, Java's own
    rate in the previous cell of the same size and batching (Java is up to 10x slower than
    confluent-kafka without batching, and a guess from Python would make it run for minutes).
    """

    def __init__(self) -> None:
        self.last: dict[tuple[int, str], float] = {}

    def expected_rate(self, cell: Cell, fastest_python: float) -> float:
        java = self.last.get((cell.record_bytes, cell.batching))
        return fastest_python if java is None else min(fastest_python, 1.5 * java)

    def note(self, cell: Cell, java_rate: float) -> None:
        self.last[(cell.record_bytes, cell.batching)] = java_rate


def budget_for(record_bytes: int, quick: bool) -> Budget:
    if quick:
        return Budget(QUICK_RECORDS, SECONDS, 0.2, 0.0, QUICK_RECORDS)
    return Budget(MAX_RECORDS[record_bytes], SECONDS, WARMUP_SECONDS, SECONDS, JAVA_MIN_RECORDS[record_bytes])


def grid(quick: bool) -> list[Cell]:
    if quick:
        return [Cell(100, "all", "on", "none"), Cell(100, batching="default", compression="default")]
    cells = [Cell(size, acks, batching, compression)
             for size, acks, batching, compression in itertools.product(SIZES, ACKS, BATCHING, COMPRESSIONS)]
    return cells + [Cell(100, batching="default", compression="default")]


def reference_cells(quick: bool) -> list[Cell]:
    """acks=all, batching on, no compression: the cells whose ratio to Java the report quotes."""
    return [Cell(size, "all", "on", "none") for size in ((100,) if quick else SIZES)]
