"""Settings read from the code: topics, producer/consumer/broker settings, processing, packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.report.markdown import code, md_table
from kafkalab.transports.kafka import topics


def retention_text(ms: str | None) -> str:
    if not ms:
        return "broker default"
    value = int(ms)
    if value < 0:
        return "unlimited"
    for unit, size in (("d", topics.DAY_MS), ("h", topics.HOUR_MS)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} ms"


def topics_table() -> str:
    rows = []
    for spec in topics.TOPICS:
        conf = spec.all_configs()
        rows.append([code(spec.name), spec.partitions, spec.replication_factor,
                     conf.get("min.insync.replicas", ""), retention_text(conf.get("retention.ms")),
                     ", ".join(f"`{k}={v}`" for k, v in conf.items())])
    return md_table(["topic", "partitions", "replication factor", "min ISR", "retention", "topic configs"], rows)


def settings_table(settings: dict[str, object]) -> str:
    return md_table(["setting", "value"], [[code(k), code(v)] for k, v in settings.items()])


def server_properties(config: LabConfig, node_id: int = 1) -> dict[str, str]:
    """The server.properties the local cluster writes for one node (no broker needed)."""
    from kafkalab.transports.kafka.cluster import LocalCluster

    text = LocalCluster(config.cluster, echo=lambda _: None)._server_properties(node_id)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def broker_settings_table(config: LabConfig) -> str:
    props = server_properties(config)
    props.pop("log.dirs", None)  # a path on this machine, not a setting worth reading
    return settings_table(props)


def dependencies(project_root: Path) -> list[str]:
    path = project_root / "pyproject.toml"
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text())["project"]["dependencies"])



def _us(value: int) -> str:
    return f"{value / 1e6:g} s" if value % 1000 == 0 else f"{value} µs"


def processing_settings_table(project_root: Path) -> str:
    """Settings of the processing that matter for Kafka, read from the modules that use them."""
    rows: list[list[object]] = []
    try:
        from kafkalab.core import windowing

        rows += [["window size (tumbling, event time)", code("kafkalab.core.windowing.WINDOW_US"), _us(windowing.WINDOW_US)],
                 ["allowed lateness (watermark = max event time − this)",
                  code("windowing.DEFAULT_ALLOWED_LATENESS_US"), _us(windowing.DEFAULT_ALLOWED_LATENESS_US)],
                 ["idle rule: watermark follows the clock after",
                  code("windowing.DEFAULT_IDLE_TIMEOUT_US"), _us(windowing.DEFAULT_IDLE_TIMEOUT_US)]]
    except ImportError:
        pass
    try:
        from kafkalab.transports.kafka import transactions

        rows.append(["processor transaction timeout (broker side)", code("transactions.TRANSACTION_TIMEOUT_MS"),
                     f"{transactions.TRANSACTION_TIMEOUT_MS} ms"])
        rows.append(["processor: a transactional call is abandoned after", code("transactions.HUNG_CALL_GRACE_S"),
                     f"{transactions.TXN_TIMEOUT_S + transactions.HUNG_CALL_GRACE_S:g} s (its timeout + grace)"])
    except ImportError:
        pass
    rows += consumer_group_rows(project_root)
    from kafkalab.config import DEFAULT_SERIALIZER

    rows.append(["default serializer", code("config.DEFAULT_SERIALIZER"), code(DEFAULT_SERIALIZER)])
    return md_table(["setting", "defined in", "value"], rows)


def consumer_group_rows(project_root: Path) -> list[list[object]]:
    """One row per consuming component: the `group_id` default of its notebook."""
    from kafkalab.report.architecture.components import COMPONENTS
    from kafkalab.report.architecture.interfaces import notebook_parameters

    rows = []
    for component in COMPONENTS:
        path = project_root / component.notebook
        group = next((p.default for p in notebook_parameters(path) if p.name == "group_id"), None) if path.exists() else None
        if group:
            rows.append([f"consumer group of the {component.name}", code(Path(component.notebook).name), code(group.strip("\"'"))])
    return rows


MACHINE_LABELS = (("machine_cores", "{} cores"), ("machine_mem_gib", "{} GiB memory"), ("machine_cpu", "{}"),
                  ("python", "Python {}"), ("kafka_version", "Kafka {}"), ("confluent_kafka", "confluent-kafka {}"),
                  ("librdkafka", "librdkafka {}"), ("kafka_python", "kafka-python {}"))


def machine_of(bench: dict) -> list[str]:
    """The machine and versions recorded with the newest benchmark row (bench.common.machine_info)."""
    import pandas as pd

    newest = None
    for frame in bench.values():
        if "machine_cores" in frame.columns and "run_at" in frame.columns:
            row = frame.iloc[-1]
            if newest is None or str(row["run_at"]) > str(newest["run_at"]):
                newest = row
    if newest is None:
        return []
    return [fmt.format(newest[k]) for k, fmt in MACHINE_LABELS if k in newest.index and pd.notna(newest[k])]
