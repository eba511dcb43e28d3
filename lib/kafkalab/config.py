"""Settings for the lab: the one module that reads environment variables.

Everything else receives a `LabConfig` (or one of its parts). Papermill parameters and
CLI flags override these per run through `load(**overrides)`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from kafkalab.errors import ConfigError

# Pinned in one place. docker-compose.yml uses the same version (a test checks it).
KAFKA_VERSION = "4.3.1"
SCALA_VERSION = "2.13"

ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_SERIALIZER = "KAFKALAB_SERIALIZER"
ENV_RESULTS_DIR = "KAFKALAB_RESULTS_DIR"
ENV_BASE_PORT = "KAFKALAB_BASE_PORT"
ENV_CLUSTER_DIR = "KAFKALAB_CLUSTER_DIR"
ENV_KAFKA_CACHE = "KAFKALAB_KAFKA_CACHE"
ENV_BROKER_HEAP_MB = "KAFKALAB_BROKER_HEAP_MB"
ENV_BROKER_GC = "KAFKALAB_BROKER_GC"
ENV_START_TIMEOUT_S = "KAFKALAB_START_TIMEOUT_S"
ENV_TOXIPROXY = "KAFKALAB_TOXIPROXY"  # the toxiproxy-server binary (the added-latency fault)
ENV_HOME = "KAFKALAB_HOME"
ENV_TRANSPORT = "KAFKALAB_TRANSPORT"
# Set by the runner for the components it starts: "<pid>:<process start time>" of the runner.
ENV_SUPERVISOR = "KAFKALAB_SUPERVISOR"
# The RabbitMQ and ZeroMQ transports' own settings, parsed in their folders from what is read here.
ENV_RABBITMQ = ("KAFKALAB_RABBITMQ_URL", "KAFKALAB_RABBITMQ_BASE_PORT", "KAFKALAB_RABBITMQ_MANAGEMENT_PORT",
                "KAFKALAB_RABBITMQ_DIR", "KAFKALAB_RABBITMQ_START_TIMEOUT_S")
ENV_ZEROMQ = ("KAFKALAB_ZMQ_ENDPOINTS", "KAFKALAB_ZMQ_HWM")
# Set by jupyter_server for the kernels it starts (JupyterLab), not by papermill.
ENV_JUPYTER_SESSION = "JPY_SESSION_NAME"

# Every variable the package reads; the compose file may only use names from here.
ENV_VARS = (
    ENV_BOOTSTRAP,
    ENV_SERIALIZER,
    ENV_RESULTS_DIR,
    ENV_BASE_PORT,
    ENV_CLUSTER_DIR,
    ENV_KAFKA_CACHE,
    ENV_BROKER_HEAP_MB,
    ENV_BROKER_GC,
    ENV_START_TIMEOUT_S,
    ENV_TOXIPROXY,
    ENV_HOME,
    ENV_TRANSPORT,
    *ENV_RABBITMQ,
    *ENV_ZEROMQ,
    ENV_SUPERVISOR,
    ENV_JUPYTER_SESSION,
)

DEFAULT_BASE_PORT = 9092
TOXIPROXY_VERSION = "v2.5.0"  # built by `go install` into .cache/toxiproxy/<version>/ (.ci/run)
BROKER_GCS = ("g1", "zgc")  # the brokers' garbage collector (see cluster.GC_OPTIONS)
DEFAULT_BROKER_GC = "g1"
# The communication patterns the application runs over (kafkalab.pipeline.plan finds each one's code).
TRANSPORTS = ("kafka", "rabbitmq", "zeromq")
DEFAULT_TRANSPORT = "kafka"
DEFAULT_SERIALIZER = "msgpack"  # chosen from `kafkalab bench serializers`: fastest to encode and produce
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def _project_root(env: Mapping[str, str]) -> Path:
    if env.get(ENV_HOME):
        return Path(env[ENV_HOME]).expanduser().resolve()
    # Installed editable from lib/kafkalab: the checkout is two levels up.
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd()


@dataclass(frozen=True)
class ClusterConfig:
    """A local cluster of combined broker+controller KRaft nodes on 127.0.0.1."""

    cache_dir: Path
    run_dir: Path
    kafka_version: str = KAFKA_VERSION
    base_port: int = DEFAULT_BASE_PORT
    node_count: int = 3
    heap_mb: int = 512
    broker_gc: str = DEFAULT_BROKER_GC
    start_timeout_s: float = 90.0
    # (node id, port) pairs: the node still listens on broker_port(n) but tells clients and
    # peers to come through this port (a proxy that forwards to it). Pairs keep the config hashable.
    advertised_ports: tuple[tuple[int, int], ...] = ()
    toxiproxy: Path | None = None  # the toxiproxy-server binary; None: not configured

    def broker_port(self, node_id: int) -> int:
        """Client port of node 1..n: 9092, 9094, 9096 by default."""
        return self.base_port + 2 * (node_id - 1)

    def advertised_port(self, node_id: int) -> int:
        """The port clients and peers reach node 1..n on: its own, or its proxy's."""
        return dict(self.advertised_ports).get(node_id, self.broker_port(node_id))

    def controller_port(self, node_id: int) -> int:
        return self.broker_port(node_id) + 1

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(1, self.node_count + 1))

    @property
    def bootstrap_servers(self) -> str:
        # Through a node's proxy too: a bootstrap connection straight to it would bypass the proxy.
        return ",".join(f"127.0.0.1:{self.advertised_port(n)}" for n in self.node_ids)


@dataclass(frozen=True)
class LabConfig:
    bootstrap_servers: str
    serializer: str
    results_dir: Path
    project_root: Path
    cluster: ClusterConfig = field(repr=False)
    transport: str = DEFAULT_TRANSPORT  # kafka | rabbitmq | zeromq (KAFKALAB_TRANSPORT, --transport)
    # (name, value) of the ENV_RABBITMQ / ENV_ZEROMQ variables that are set: pairs keep the config hashable
    rabbitmq_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    zeromq_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def data_dir(self) -> Path:
        return self.results_dir / "data"

    @property
    def bench_dir(self) -> Path:
        return self.results_dir / "bench"

    @property
    def runs_dir(self) -> Path:
        return self.results_dir / "runs"

    @property
    def profiles_dir(self) -> Path:
        return self.results_dir / "profiles"

    def serializer_for(self, topic: str) -> str:
        """The format producers write to `topic`.

        `serializer` (KAFKALAB_SERIALIZER, or the `serializer` parameter) is one format
        ("msgpack") or per-topic choices with an optional default, e.g.
        "orderbooks=avro,msgpack". Consumers decode whatever arrives (the format travels
        in a header), so topics may differ and may change format over time.
        """
        default, per_topic = DEFAULT_SERIALIZER, {}
        for entry in filter(None, (e.strip() for e in self.serializer.split(","))):
            name, is_pair, fmt = entry.partition("=")
            if is_pair:
                per_topic[name.strip()] = fmt.strip()
            else:
                default = name
        return per_topic.get(topic, default)

    def with_overrides(self, **overrides) -> "LabConfig":
        """Apply non-empty overrides (papermill parameters, CLI flags)."""
        given = {k: v for k, v in overrides.items() if v not in (None, "")}
        if "bootstrap_servers" in given:
            given["bootstrap_servers"] = parse_bootstrap(str(given["bootstrap_servers"]), "bootstrap_servers")
        if "results_dir" in given:
            given["results_dir"] = Path(given["results_dir"]).expanduser().resolve()
        if "transport" in given:
            given["transport"] = parse_transport(str(given["transport"]), "transport")
        return replace(self, **given)


def parse_client_settings(value: str | Mapping[str, object] | None, name: str = "producer_settings") -> dict:
    """Extra librdkafka settings, written "linger.ms=0,compression.type=zstd" in a notebook
    parameter (a mapping passes through). librdkafka itself rejects unknown names and values."""
    if isinstance(value, Mapping):
        return dict(value)
    return parse_pairs(value, f"{name} must be comma-separated name=value librdkafka settings, "
                              f"e.g. \"linger.ms=0,compression.type=zstd\"")


def parse_pairs(value: object, must: str) -> dict[str, str]:
    """"a=1,b=2" -> {"a": "1", "b": "2"}; an entry that is not name=value is refused with
    `must` (what the parameter must look like) and the entry itself."""
    pairs = {}
    for entry in filter(None, (e.strip() for e in str(value or "").split(","))):
        key, is_pair, setting = (part.strip() for part in entry.partition("="))
        if not (is_pair and key and setting):
            raise ConfigError(f"{must} (got {entry!r})")
        pairs[key] = setting
    return pairs


def parse_bootstrap(value: str, name: str = ENV_BOOTSTRAP) -> str:
    servers = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in servers if not _HOST_PORT.match(s)]
    if not servers or bad:
        raise ConfigError(
            f"{name} must be a comma-separated list of host:port (got {value!r}); "
            f"example: 127.0.0.1:9092,127.0.0.1:9094"
        )
    return ",".join(servers)


def parse_transport(value: str, name: str = ENV_TRANSPORT) -> str:
    transport = value.strip().lower()
    if transport not in TRANSPORTS:
        raise ConfigError(f"{name} must be one of {', '.join(TRANSPORTS)} (got {value!r})")
    return transport


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} (got {raw!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high} (got {value})")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds (got {raw!r})") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive (got {value})")
    return value


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


def _set_vars(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, env[name]) for name in names if env.get(name, "").strip())


def load(env: Mapping[str, str] | None = None, **overrides) -> LabConfig:
    """Read the environment once, then apply overrides (None or '' means 'not given')."""
    env = os.environ if env is None else env
    root = _project_root(env)
    cluster = ClusterConfig(
        cache_dir=_path(env, ENV_KAFKA_CACHE, root / ".cache" / "kafka"),
        run_dir=_path(env, ENV_CLUSTER_DIR, root / ".run" / "cluster"),
        base_port=_int(env, ENV_BASE_PORT, DEFAULT_BASE_PORT, 1024, 65000),
        heap_mb=_int(env, ENV_BROKER_HEAP_MB, 512, 256, 8192),
        broker_gc=_choice(env, ENV_BROKER_GC, DEFAULT_BROKER_GC, BROKER_GCS),
        start_timeout_s=_float(env, ENV_START_TIMEOUT_S, 90.0),
        toxiproxy=_path(env, ENV_TOXIPROXY, root / ".cache" / "toxiproxy" / TOXIPROXY_VERSION / "server"),
    )
    raw_bootstrap = env.get(ENV_BOOTSTRAP, "").strip()
    bootstrap = parse_bootstrap(raw_bootstrap) if raw_bootstrap else cluster.bootstrap_servers
    config = LabConfig(
        bootstrap_servers=bootstrap,
        serializer=env.get(ENV_SERIALIZER, "").strip() or DEFAULT_SERIALIZER,
        results_dir=_path(env, ENV_RESULTS_DIR, root / "results"),
        project_root=root,
        cluster=cluster,
        transport=parse_transport(env.get(ENV_TRANSPORT, "").strip() or DEFAULT_TRANSPORT),
        rabbitmq_env=_set_vars(env, ENV_RABBITMQ),
        zeromq_env=_set_vars(env, ENV_ZEROMQ),
    )
    return config.with_overrides(**overrides)


def supervisor(env: Mapping[str, str] | None = None) -> tuple[int, float] | None:
    """(pid, start time) of the process that started this component, if one did (KAFKALAB_SUPERVISOR)."""
    raw = (os.environ if env is None else env).get(ENV_SUPERVISOR, "").strip()
    if not raw:
        return None
    pid, _, started = raw.partition(":")
    try:
        return int(pid), float(started)
    except ValueError:
        raise ConfigError(f"{ENV_SUPERVISOR} must be <pid>:<start time> (got {raw!r}); "
                          f"it is set by `kafkalab run`, not by hand") from None


def in_jupyter_server(env: Mapping[str, str] | None = None) -> bool:
    """True inside a kernel started by a Jupyter server (JupyterLab), False under papermill."""
    env = os.environ if env is None else env
    return bool(env.get(ENV_JUPYTER_SESSION))
