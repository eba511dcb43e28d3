"""Benchmarks: `kafkalab bench <experiment>` appends rows to results/bench/<experiment>.csv.

Each experiment module registers a function `run(config, quick: bool) -> int` here.
"""

from __future__ import annotations

import importlib

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError

# experiment name -> module under kafkalab.bench that has `run(config, quick)`
EXPERIMENTS: dict[str, str] = {
    "serializers": "serializers",
    "generator": "generator",
    "producer": "producer",
    "consumer": "consumer",
    "scaling": "scaling",
    "replication": "replication",
    "deepdives": "deepdives",
    "pipeline": "pipeline",
    "reliability": "reliability",  # broker loss on its own private cluster
    "transports": "transports",  # Kafka, RabbitMQ (and ZeroMQ) side by side, durable settings of each
}


def run_experiment(config: LabConfig, name: str, quick: bool = False) -> int:
    names = list(EXPERIMENTS) if name == "all" else [name]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ConfigError(f"unknown experiment {unknown[0]!r}; choose one of: all, {', '.join(EXPERIMENTS)}")
    for n in names:
        module = importlib.import_module(f".{EXPERIMENTS[n]}", __name__)
        module.run(config, quick=quick)
    return 0
