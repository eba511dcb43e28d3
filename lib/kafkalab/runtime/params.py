"""The typed, transport-free parameters every component is built from.

One name per concept, the same in the notebooks' `parameters` cells, `kafkalab run`, the
compose file and the benchmarks. Notebook parameters arrive as plain values (strings from
papermill `-r`, "" meaning "not given"); `ComponentParams.from_parameters` turns them into
this frozen dataclass once, so a component never parses a string again.

Every transport builds its five components from these (`kafkalab.transports.<t>.components
.build(name, config, params)`); a parameter a transport has no use for is ignored there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Mapping

from kafkalab.config import parse_client_settings, parse_pairs
from kafkalab.errors import ConfigError

# The five components, by the names every transport's `components.build` accepts.
TRADE_GENERATOR = "trade-generator"
ORDERBOOK_GENERATOR = "orderbook-generator"
MARKET_PROCESSOR = "market-processor"
TRADES_SINK = "trades-sink"
CANDLES_SINK = "candles-sink"
COMPONENTS = (TRADE_GENERATOR, ORDERBOOK_GENERATOR, MARKET_PROCESSOR, TRADES_SINK, CANDLES_SINK)
GENERATORS = (TRADE_GENERATOR, ORDERBOOK_GENERATOR)


@dataclass(frozen=True)
class ComponentParams:
    """What a component is asked to do; the LabConfig says where (brokers, results folder)."""

    # generators
    rate_hz: float | None = None  # records/s in total; 0 = as fast as possible; None = the component's default
    # (its range is the generator's to check: "from 1 to ...")
    symbols: tuple[str, ...] = ()  # () = every simulated symbol
    seed: int = 7  # same seed = same market (both generators use it, so books match trades)
    serializer: str = ""  # "" = the LabConfig's (KAFKALAB_SERIALIZER); e.g. "orderbooks=avro,msgpack"
    producer_settings: Mapping[str, object] = field(default_factory=dict)  # extra client settings, transport-specific
    delivery_timeout_s: float = 0.0  # how long a publisher retries a record (0 = the transport's default)
    acked_csv: str = ""  # trade generator: every acknowledged trade to this CSV ("" = off; relative = under data/)
    # processor
    instance: str = "0"  # unique per running instance (e.g. Kafka's transactional id)
    engine: str = "python"  # market processor: "python" (ours) or "streams" (Kafka Streams, Kafka transport only)
    allowed_lateness_ms: int = 500
    idle_timeout_ms: int = 2000
    # consumers
    group_id: str = ""  # the consumer group / queue a consumer joins ("" = the component's default)
    max_batch: int = 5000  # sinks: rows written per fsync at most
    # every component
    streams: Mapping[str, str] = field(default_factory=dict)  # stream -> its name on the transport (tests, benchmarks)
    results_dir: str = ""  # "" = the LabConfig's
    max_seconds: float = 0.0  # 0 = unbounded
    max_messages: int = 0  # 0 = unbounded
    stop_file: str = ""  # the loop ends cleanly once this file exists
    profile: bool = False  # run the loop under the profiler (kafkalab.runtime.profiling)

    def __post_init__(self) -> None:
        if self.max_seconds < 0 or self.max_messages < 0:
            raise ConfigError(f"max_seconds and max_messages must be 0 (unbounded) or positive "
                              f"(got {self.max_seconds:g}, {self.max_messages})")

    def stream(self, name: str) -> str:
        """The name stream `name` ("trades", "candles", ...) has on the transport in this run."""
        return self.streams.get(name) or name

    def with_changes(self, **changes) -> "ComponentParams":
        """A copy with notebook-style values applied (as from_parameters parses them)."""
        return ComponentParams.from_parameters(**{**self.to_parameters(), **changes})

    @classmethod
    def from_parameters(cls, **parameters) -> "ComponentParams":
        """Parse notebook / CLI values; "" and None mean "not given" (the default stays)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(parameters) - set(known))
        if unknown:
            raise ConfigError(f"unknown component parameter(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        given = {k: v for k, v in parameters.items() if v is not None and v != ""}
        values = {name: _PARSERS.get(name, _as_is)(name, value) for name, value in given.items()}
        return cls(**values)

    def to_parameters(self) -> dict[str, object]:
        """The inverse of from_parameters: plain values a notebook parameters cell accepts."""
        values = asdict(self)
        values["symbols"] = ",".join(self.symbols)
        values["streams"] = ",".join(f"{k}={v}" for k, v in self.streams.items())
        values["producer_settings"] = ",".join(f"{k}={v}" for k, v in self.producer_settings.items())
        values["rate_hz"] = "" if self.rate_hz is None else self.rate_hz
        return values


def parse_rate(name: str, value: object) -> float:
    """A rate in Hz; "max" (or 0) means as fast as possible."""
    if isinstance(value, str) and value.strip().lower() == "max":
        return 0.0
    return _number(name, value, float)


def parse_names(name: str, value: object) -> tuple[str, ...]:
    """"AAPL,TSLA" (or a sequence) -> ("AAPL", "TSLA")."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in map(str, items) if s.strip())


def parse_streams(name: str, value: object) -> dict[str, str]:
    """"trades=t1,candles=c1" (or a mapping) -> {"trades": "t1", "candles": "c1"}."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return parse_pairs(value, f"{name} must be comma-separated stream=name pairs, e.g. "
                              f"\"trades=test-trades,candles=test-candles\"")


def _number(name: str, value: object, kind: type):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number (got {value!r})") from None
    if kind is int and isinstance(value, float) and value != int(value):
        raise ConfigError(f"{name} must be a whole number (got {value!r})")
    return number


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be True or False (got {value!r})")


ENGINES = ("python", "streams")


def parse_engine(name: str, value: object) -> str:
    engine = str(value).strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"{name} must be one of {', '.join(ENGINES)} (got {value!r})")
    return engine


def _as_is(name: str, value: object) -> object:
    return str(value)


_PARSERS = {
    "rate_hz": parse_rate,
    "symbols": parse_names,
    "seed": lambda n, v: _number(n, v, int),
    "producer_settings": lambda n, v: parse_client_settings(v, n),
    "delivery_timeout_s": lambda n, v: _number(n, v, float),
    "allowed_lateness_ms": lambda n, v: _number(n, v, int),
    "idle_timeout_ms": lambda n, v: _number(n, v, int),
    "max_batch": lambda n, v: _number(n, v, int),
    "streams": parse_streams,
    "max_seconds": lambda n, v: _number(n, v, float),
    "max_messages": lambda n, v: _number(n, v, int),
    "profile": _flag,
    "engine": lambda n, v: parse_engine(n, v),
}
