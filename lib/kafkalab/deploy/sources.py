"""What the manifests are generated from, read once: docker-compose.yml and the code's tables.

The compose file is the declaration of the containers (image, components, notebooks and
their papermill parameters, environment variable names, the stop wrapper), so Kubernetes
runs exactly what Docker runs; the topic table and kafkalab.config give topics, the Kafka
version and the names of the variables the package reads.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from kafkalab import config as lab_config
from kafkalab.errors import ConfigError
from kafkalab.runtime.params import MARKET_PROCESSOR

COMPOSE_FILE = "docker-compose.yml"
PAPERMILL = ("python", "-m", "papermill")
# Compose's variable substitution as used by our file: ${X:-default}, ${X-default}, ${X}, $X and $$.
_COMPOSE_VAR = re.compile(r"\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?::?-(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")
# Broker settings of the compose file's Kafka nodes that describe one node or its listeners:
# Strimzi derives those from the Kafka and KafkaNodePool resources and refuses them in config.
_NODE_SETTINGS = ("CLUSTER_ID", "KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_HEAP_OPTS", "KAFKA_LOG_DIRS")
_NODE_SETTING_PREFIXES = ("KAFKA_CONTROLLER", "KAFKA_LISTENER", "KAFKA_ADVERTISED", "KAFKA_INTER_BROKER")


@dataclass(frozen=True)
class ComposeComponent:
    """One component container of the compose file: its notebook run by papermill."""

    service: str
    notebook: str
    output: str
    raw_parameters: tuple[tuple[str, str], ...]  # papermill -r name value, in order
    stop_grace_s: int

    @property
    def parameters(self) -> dict[str, str]:
        return dict(self.raw_parameters)


@dataclass(frozen=True)
class LabDeclarations:
    root: Path  # the checkout the compose file and notebooks were read from
    image: str
    env: tuple[tuple[str, str], ...]  # the lab containers' variables, compose defaults applied
    stop_wrapper: str  # the bash script as bash receives it ($$ already turned into $)
    components: tuple[ComposeComponent, ...]
    broker_settings: tuple[tuple[str, str], ...]  # cluster-wide Kafka settings, e.g. min.insync.replicas
    broker_heap: str  # the brokers' KAFKA_HEAP_OPTS, e.g. "-Xms512m -Xmx512m"
    kafka_version: str = lab_config.KAFKA_VERSION


def interpolate(value: object) -> str:
    """A compose value as Docker Compose resolves it with no variables set: defaults, $$ -> $."""
    def sub(match: re.Match) -> str:
        return "$" if match.group(0) == "$$" else match.group("default") or ""
    return _COMPOSE_VAR.sub(sub, str(value))


def _seconds(value: object) -> int:
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)(s|m)?", text)
    if not match:
        raise ConfigError(f"{COMPOSE_FILE}: stop_grace_period {text!r} is not a whole number of seconds or minutes")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def _papermill_component(name: str, service: dict) -> ComposeComponent:
    argv = [str(part) for part in service["command"]]
    if tuple(argv[:3]) != PAPERMILL:
        raise ConfigError(f"{COMPOSE_FILE}: service {name} does not run a notebook with papermill")
    notebook, output, options = argv[3], argv[4], argv[5:]
    raw = []
    for index, option in enumerate(options):
        if option in ("-r", "--parameters_raw", "-p", "--parameters"):
            raw.append((options[index + 1], options[index + 2]))
    return ComposeComponent(service=name, notebook=notebook, output=output, raw_parameters=tuple(raw),
                            stop_grace_s=_seconds(service.get("stop_grace_period", "10s")))


def _broker_settings(broker: dict) -> tuple[tuple[str, str], ...]:
    """KAFKA_MIN_INSYNC_REPLICAS: 2 -> ("min.insync.replicas", "2"): the apache/kafka image's own mapping."""
    settings = []
    for name, value in (broker.get("environment") or {}).items():
        if name in _NODE_SETTINGS or name.startswith(_NODE_SETTING_PREFIXES) or not name.startswith("KAFKA_"):
            continue
        settings.append((name.removeprefix("KAFKA_").lower().replace("_", "."), str(value)))
    return tuple(sorted(settings))


def load(root: Path) -> LabDeclarations:
    path = root / COMPOSE_FILE
    try:
        compose = yaml.safe_load(path.read_text())
        services = compose["services"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise ConfigError(f"cannot read the services of {path}: {err}") from None
    components = tuple(_papermill_component(name, service) for name, service in services.items()
                       if list(service.get("command") or [])[:3] == list(PAPERMILL))
    if not components:
        raise ConfigError(f"{path}: no service runs a notebook with papermill")
    first = services[components[0].service]
    entrypoint = [str(part) for part in first["entrypoint"]]
    env = tuple((name, interpolate(value)) for name, value in first["environment"].items())
    brokers = [service for service in services.values() if str(service.get("image", "")).startswith("apache/kafka:")]
    return LabDeclarations(root=root, image=first["image"], env=env, stop_wrapper=interpolate(entrypoint[2]),
                           components=components, broker_settings=_broker_settings(brokers[0]),
                           broker_heap=str(brokers[0]["environment"].get("KAFKA_HEAP_OPTS", "")))


def notebook_defaults(path: Path) -> dict[str, object]:
    """The literal values of a notebook's `parameters` cell (e.g. group_id = "market-processor")."""
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in (c.get("metadata", {}).get("tags") or []))
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def processor_group(root: Path, processor: ComposeComponent) -> str:
    """The processor's consumer group: its notebook's `group_id`, or where that is empty, the
    group the Kafka transport gives it by default."""
    declared = notebook_defaults(root / processor.notebook).get("group_id")
    if declared:
        return str(declared)
    from kafkalab.transports.kafka.components import DEFAULT_GROUPS
    return DEFAULT_GROUPS[MARKET_PROCESSOR]
