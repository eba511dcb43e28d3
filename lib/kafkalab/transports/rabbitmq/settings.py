"""RabbitMQ settings: one frozen dataclass, parsed from a mapping that config.py hands over.

config.py is the one module that reads os.environ; it passes the environment here
(`RabbitConfig.from_env(os.environ, project_root)`), so every RabbitMQ setting is parsed and
checked in one place with one-line errors.

Ports of node n (1..3), from the AMQP base port B (default 5672) and the management base M
(default 15672 for the default B, else B + 100: every port stays below Linux's ephemeral
range, 32768-60999, where an outgoing connection can take a port just before a node binds it):

    AMQP  B + n - 1        inter-node (Erlang distribution)  B + 10 + n - 1
    HTTP  M + n - 1        epmd (one, the cluster's own)     B + 20
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from kafkalab.config import ENV_RABBITMQ
from kafkalab.config import _float as seconds_setting  # one parser for every "seconds" variable
from kafkalab.errors import ConfigError

# The names are declared in config.py, the one module that reads the environment.
ENV_VARS = ENV_RABBITMQ
ENV_URL, ENV_BASE_PORT, ENV_MANAGEMENT_PORT, ENV_DIR, ENV_START_TIMEOUT_S = ENV_VARS

DEFAULT_BASE_PORT = 5672
DEFAULT_MANAGEMENT_PORT = 15672
LAB_USER = "kafkalab"  # never "guest": `up` creates this user with a generated password


@dataclass(frozen=True)
class RabbitConfig:
    """Where the lab's RabbitMQ cluster lives and how clients reach it.

    `urls` empty means "the local cluster": clients then use every node's AMQP port and the
    password that `kafkalab rabbitmq up` generated (run_dir/credentials).
    """

    run_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    management_base_port: int = DEFAULT_MANAGEMENT_PORT
    node_count: int = 3
    start_timeout_s: float = 180.0
    urls: tuple[str, ...] = ()

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(1, self.node_count + 1))

    def amqp_port(self, node_id: int) -> int:
        return self.base_port + node_id - 1

    def dist_port(self, node_id: int) -> int:
        return self.base_port + 10 + node_id - 1

    def management_port(self, node_id: int) -> int:
        return self.management_base_port + node_id - 1

    @property
    def epmd_port(self) -> int:
        return self.base_port + 20

    def node_name(self, node_id: int) -> str:
        # The base port in the name keeps a test cluster apart from the user's.
        return f"lab{self.base_port}-{node_id}@localhost"

    @property
    def credentials_file(self) -> Path:
        return self.run_dir / "credentials"

    @classmethod
    def from_env(cls, env: Mapping[str, str], project_root: Path) -> "RabbitConfig":
        base = _port(env, ENV_BASE_PORT, DEFAULT_BASE_PORT)
        raw_dir = env.get(ENV_DIR, "").strip()
        return cls(
            run_dir=Path(raw_dir).expanduser().resolve() if raw_dir else project_root / ".run" / "rabbitmq",
            base_port=base,
            management_base_port=_port(env, ENV_MANAGEMENT_PORT, default_management_port(base)),
            start_timeout_s=seconds_setting(env, ENV_START_TIMEOUT_S, 180.0),
            urls=parse_urls(env.get(ENV_URL, "")),
        )


def default_management_port(base_port: int) -> int:
    return DEFAULT_MANAGEMENT_PORT if base_port == DEFAULT_BASE_PORT else base_port + 100


def parse_urls(value: str, name: str = ENV_URL) -> tuple[str, ...]:
    """Comma-separated amqp:// URLs (one per node a client may use, tried in order)."""
    urls = tuple(u.strip() for u in value.split(",") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ConfigError(f"{name} must be comma-separated amqp://user:password@host:port/ URLs "
                              f"(got {url.split('@')[-1]!r})")
    return urls


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1024 <= int(raw) <= 65000:
        raise ConfigError(f"{name} must be a port from 1024 to 65000 (got {raw!r})")
    return int(raw)


def rabbit_config(config) -> RabbitConfig:
    """The RabbitMQ part of a LabConfig, parsed here from the variables config.py read."""
    return RabbitConfig.from_env(dict(config.rabbitmq_env), config.project_root)
