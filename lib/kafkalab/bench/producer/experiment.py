"""The producer experiment: each cell's runs on one fresh topic, the grid appended cell by cell."""

from __future__ import annotations

from tqdm import tqdm

from kafkalab.transports.kafka.clients import require_reachable
from kafkalab.config import LabConfig
from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe, fresh_topic, payload, wait_for_ready
from kafkalab.bench.producer.cells import (QUICK_REFERENCE_SECONDS, REFERENCE_MAX_RECORDS, REFERENCE_SECONDS,
                                           REFERENCE_WARMUP_SHARE, Budget, Cell, JavaPacer, budget_for, grid,
                                           reference_cells)
from kafkalab.bench.producer.clients import (Measurement, produce_confluent, produce_java, produce_kafka_python,
                                             pure_python_crc)

EXPERIMENT = "producer"
# Java gets this long (JVM start included) before it is stopped; its row then has no rate.
JAVA_TIMEOUT_S = 45.0

# In the defaults cell each Python client also runs TUNED, right after its defaults, so the
# tuning factor compares two runs made a few seconds apart (the machine's load drifts).
TUNED = Cell(100, "all", "on", "lz4")


def _python_runs(cell: Cell) -> list[tuple[str, str]]:
    if cell.is_defaults:
        return [("confluent-kafka", "defaults"), ("confluent-kafka", "tuned"), ("kafka-python", "defaults"),
                ("kafka-python", "tuned"), ("kafka-python", "defaults-pure-crc")]
    return [("confluent-kafka", "grid"), ("kafka-python", "grid")]


def _settings_for(cell: Cell, variant: str) -> Cell:
    """The settings a run really used: TUNED for the tuned variant, else the cell's."""
    return Cell(cell.record_bytes, TUNED.acks, TUNED.batching, TUNED.compression) if variant == "tuned" else cell


def run_cell(config: LabConfig, cell: Cell, budget: Budget, progress,
             pacer: JavaPacer | None = None) -> list[dict[str, object]]:
    """The Python clients, then Java, on one fresh topic; ratios against that Java row.

    Java's record count is sized (JavaPacer) so that it runs about `budget.java_seconds`
    (its warm-up, a fifth of that, comes on top and is not measured).
    """
    pacer = pacer or JavaPacer()
    value = payload(cell.record_bytes)
    base = {"cell": cell.name, **cell.settings()}
    rows: list[dict[str, object]] = []
    with fresh_topic(config.bootstrap_servers, "producer") as topic:
        wait_for_ready(config.bootstrap_servers, topic)
        for client, variant in _python_runs(cell):
            progress.set_postfix_str(f"{cell.name} {client} {variant}")
            used = _settings_for(cell, variant)
            with LoadProbe() as probe:
                m = _produce_python(config.bootstrap_servers, topic, value, used, client, variant, budget)
            rows.append({**base, **used.settings(), "client": client, "variant": variant,
                         **m.columns(cell.record_bytes), **probe.columns()})
            progress.update(1)
        count = budget.java_records(pacer.expected_rate(cell, max(r["records_per_s"] for r in rows)))
        progress.set_postfix_str(f"{cell.name} java ({count} records)")
        with LoadProbe() as probe:
            java = produce_java(config, topic, cell, count, warmup=max(count // 5, 1), timeout_s=JAVA_TIMEOUT_S)
        rows.insert(0, {**base, "client": "java", "variant": "defaults" if cell.is_defaults else "grid",
                        **java, **probe.columns()})
        progress.update(1)
    java_rate = java["records_per_s"]
    # A timed-out Java run managed at most this rate: the next cell asks for fewer records.
    pacer.note(cell, java_rate or count / JAVA_TIMEOUT_S)
    for row in rows:
        row["ratio_to_java"] = round(row["records_per_s"] / java_rate, 4) if java_rate else None
    return rows


def run_reference(config: LabConfig, cell: Cell, seconds: float, progress) -> list[dict[str, object]]:
    """confluent-kafka, then Java, each sending for about `seconds` after a warm-up, on one fresh topic.

    Java is given confluent-kafka's measured rate x `seconds` records (plus a fifth as warm-up
    records), so that both run about as long; a Java slower than that simply runs longer.
    """
    value = payload(cell.record_bytes)
    base = {"cell": f"{cell.name}-reference", **cell.settings(), "variant": "reference"}
    with fresh_topic(config.bootstrap_servers, "producer") as topic:
        wait_for_ready(config.bootstrap_servers, topic)
        progress.set_postfix_str(f"{cell.name} reference, confluent-kafka {seconds:g} s")
        with LoadProbe() as probe:
            m = produce_confluent(config.bootstrap_servers, topic, value, REFERENCE_MAX_RECORDS, seconds,
                                  cell.confluent_config(), seconds * REFERENCE_WARMUP_SHARE)
        python = {**base, "client": "confluent-kafka", **m.columns(cell.record_bytes), **probe.columns()}
        progress.update(1)
        count = max(int(python["records_per_s"] * seconds), 1)
        progress.set_postfix_str(f"{cell.name} reference, java {count:,} records")
        with LoadProbe() as probe:
            java = produce_java(config, topic, cell, count, warmup=max(int(count * REFERENCE_WARMUP_SHARE), 1),
                                timeout_s=JAVA_TIMEOUT_S + 4 * seconds)
        progress.update(1)
    java = {**base, "client": "java", **java, **probe.columns()}
    rate = java["records_per_s"]
    java["ratio_to_java"], python["ratio_to_java"] = (1.0, round(python["records_per_s"] / rate, 4)) if rate else (None, None)
    return [java, python]


def _produce_python(bootstrap: str, topic: str, value: bytes, cell: Cell, client: str, variant: str,
                    budget: Budget) -> Measurement:
    if client == "confluent-kafka":
        return produce_confluent(bootstrap, topic, value, budget.max_records, budget.seconds,
                                 cell.confluent_config(), budget.warmup_seconds)
    if variant == "defaults-pure-crc":
        with pure_python_crc():
            return produce_kafka_python(bootstrap, topic, value, budget.max_records, budget.seconds,
                                        cell.kafka_python_config(), budget.warmup_seconds)
    return produce_kafka_python(bootstrap, topic, value, budget.max_records, budget.seconds,
                                cell.kafka_python_config(), budget.warmup_seconds)


def run(config: LabConfig, quick: bool = False) -> int:
    require_reachable(config.bootstrap_servers)  # one clear line if the cluster is not up
    cells, references = grid(quick), reference_cells(quick)
    total = sum(1 + len(_python_runs(c)) for c in cells) + 2 * len(references)
    written = 0
    pacer = JavaPacer()
    seconds = QUICK_REFERENCE_SECONDS if quick else REFERENCE_SECONDS
    with tqdm(total=total, desc="producer", unit="run") as progress:
        for cell in cells:
            # Written cell by cell: an interrupted grid keeps what it measured.
            written += _append(config, run_cell(config, cell, budget_for(cell.record_bytes, quick), progress, pacer),
                               quick)
        for cell in references:
            written += _append(config, run_reference(config, cell, seconds, progress), quick)
    return written


def _append(config: LabConfig, rows: list[dict[str, object]], quick: bool) -> int:
    return append_rows(config.bench_dir / f"{EXPERIMENT}.csv", [{**r, "quick": quick} for r in rows])
