"""What the pipeline needs from a transport, and where to find each transport's code.

The shared contract between transports is data (message types, serde payload + headers,
stream names, the CSV schema) plus two small entry points per transport, found by name
so that a transport whose client library is not installed costs nothing until chosen:

- `kafkalab.transports.<t>.plan.PLAN`: an object satisfying `TransportPlan` below;
- `kafkalab.transports.<t>.components.build(name, config, params) -> Component`, with
  `name` one of kafkalab.runtime.params.COMPONENTS.

Readiness is transport-free: the component loop writes `<stop_file>.ready` once its
setup() is done, and the launcher waits for that file.

`PipelinePlan` is the other half: which components a run starts, each one's notebook and
typed parameters, built once here (one name per concept) for `kafkalab run`, the
benchmarks and the tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Mapping, Protocol, runtime_checkable

from kafkalab.config import TRANSPORTS, LabConfig
from kafkalab.core.streams import STREAMS
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import (CANDLES_SINK, COMPONENTS, GENERATORS, MARKET_PROCESSOR, ORDERBOOK_GENERATOR,
                                     TRADE_GENERATOR, TRADES_SINK, ComponentParams, parse_streams)

# notebooks/<notebook>.ipynb runs each component (every transport: the `transport` parameter).
NOTEBOOKS = {TRADE_GENERATOR: "generator_trades", ORDERBOOK_GENERATOR: "generator_orderbook",
             MARKET_PROCESSOR: "processor_market", TRADES_SINK: "sink_trades_csv", CANDLES_SINK: "sink_candles_csv"}
# The consumers in data-flow order: drained and stopped in this order, so the processor's
# last outputs exist before the sinks finish.
CONSUMERS = (MARKET_PROCESSOR, TRADES_SINK, CANDLES_SINK)


@runtime_checkable
class TransportPlan(Protocol):
    """One transport's part in a pipeline run (`kafkalab run --transport T`)."""

    transport: str  # "kafka" | "rabbitmq" | "zeromq"

    def broker(self, config: LabConfig, echo: Callable[[str], None]) -> ContextManager[None]:
        """Make sure a broker answers: start the local one when none does, and on exit stop
        only what was started here (ZeroMQ: nothing to do)."""

    def prepare(self, config: LabConfig, params: ComponentParams) -> None:
        """Declare what the components use (topics / exchanges / queues), under the stream
        names of `params` (`params.stream("trades")`); idempotent."""

    def backlog(self, config: LabConfig, component: str, params: ComponentParams) -> int | None:
        """Records waiting for consumer `component` (lag, queue depth); None where the
        transport cannot tell (ZeroMQ). The runner drains a consumer until this is 0."""

    # Optional: `assigned(config, component, params) -> bool`, True once the consumer owns
    # all its input (Kafka: its group is stable and holds every partition). Where a
    # transport has it, the runner starts the generators only then, so no record waits for
    # a consumer to join; elsewhere the ready files are enough.
    # Optional: `settle_s(component) -> float`, how long `backlog` must read 0 before it is
    # believed, where the transport's count can be older than the moment it is asked.


def _module(transport: str, part: str):
    if transport not in TRANSPORTS:
        raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)} (got {transport!r})")
    name = f"kafkalab.transports.{transport}.{part}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not name.startswith(exc.name):  # the module exists, a library it needs does not
            raise ConfigError(f"transport {transport} needs the Python package {exc.name.split('.')[0]!r}, "
                              f"which is not installed; install the project again (pip install -e .)") from None
        raise ConfigError(f"transport {transport} is not available in this checkout ({name} is missing); "
                          f"use --transport kafka") from None


def transport_plan(transport: str) -> TransportPlan:
    """The registered plan of `transport`; one ConfigError line when it is unknown or not installed."""
    plan = _module(transport, "plan").PLAN
    if not isinstance(plan, TransportPlan) or plan.transport != transport:
        raise ConfigError(f"kafkalab.transports.{transport}.plan.PLAN is not a TransportPlan for {transport}")
    return plan


def build_component(transport: str, name: str, config: LabConfig, params: ComponentParams) -> Component:
    """Component `name` of `transport`, built from the typed parameters."""
    if name not in COMPONENTS:
        raise ConfigError(f"component must be one of {', '.join(COMPONENTS)} (got {name!r})")
    return _module(transport, "components").build(name, config, params)


@dataclass(frozen=True)
class ComponentSpec:
    name: str  # one of COMPONENTS
    params: ComponentParams

    @property
    def notebook(self) -> str:
        return NOTEBOOKS[self.name]

    @property
    def source(self) -> bool:
        """A generator: bounded by time, not drained."""
        return self.name in GENERATORS


@dataclass(frozen=True)
class PipelinePlan:
    """The components of one run and their parameters (transport, brokers, serializer and
    results folder come from the LabConfig)."""

    seconds: float  # how long the generators run (0 = until stopped)
    shared: Mapping[str, object] = field(default_factory=dict)  # parameters of every component, e.g. streams
    overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # per component name

    def __post_init__(self) -> None:
        unknown = sorted(set(self.overrides) - set(COMPONENTS))
        if unknown:
            raise ConfigError(f"no component(s) {', '.join(unknown)}; components are {', '.join(COMPONENTS)}")

    def params(self, name: str) -> ComponentParams:
        bound = {"max_seconds": self.seconds} if name in GENERATORS else {}
        own = dict(self.overrides.get(name, {}))
        if "streams" in own:  # renames one stream for one component; the others keep the shared names
            own["streams"] = {**parse_streams("streams", self.shared.get("streams") or {}),
                              **parse_streams("streams", own["streams"])}
        return ComponentParams.from_parameters(**{**self.shared, **bound, **own})

    @property
    def shared_params(self) -> ComponentParams:
        """What every component shares (stream names): for TransportPlan.prepare."""
        return ComponentParams.from_parameters(**self.shared)

    def components(self) -> list[ComponentSpec]:
        """Consumers first (in data-flow order), then the generators."""
        return [ComponentSpec(name, self.params(name)) for name in (*CONSUMERS, *GENERATORS)]

    def with_override(self, name: str, **parameters) -> "PipelinePlan":
        return PipelinePlan(self.seconds, self.shared,
                            {**self.overrides, name: {**self.overrides.get(name, {}), **parameters}})


def private_plan(tag: str, seconds: float, overrides: Mapping[str, Mapping[str, object]] | None = None,
                 **shared) -> PipelinePlan:
    """A plan on streams and consumer groups of its own ("<tag>-trades", "<tag>-market-processor"),
    so tests and benchmarks never touch the application's topics or groups."""
    streams = {stream: f"{tag}-{stream}" for stream in STREAMS}
    groups = {name: {"group_id": f"{tag}-{name}"} for name in CONSUMERS}
    merged = {name: {**groups.get(name, {}), **(overrides or {}).get(name, {})} for name in COMPONENTS}
    return PipelinePlan(seconds, {"streams": streams, **shared}, merged)
