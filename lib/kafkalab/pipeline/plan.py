"""What the pipeline needs from a transport, and where to find each transport's code.

The shared contract between transports is data (message types, serde payload + headers,
stream names, the CSV schema) plus two small entry points per transport, found by name
so that a transport whose client library is not installed costs nothing until chosen:

- `kafkalab.transports.<t>.plan.PLAN`: an object satisfying `TransportPlan` below;
- `kafkalab.transports.<t>.components.build(name, config, params) -> Component`, with
  `name` one of kafkalab.runtime.params.COMPONENTS.

Readiness is transport-free: the component loop writes `<stop_file>.ready` once its
setup() is done, and the launcher waits for that file.
"""

from __future__ import annotations

import importlib
from typing import Callable, ContextManager, Protocol, runtime_checkable

from kafkalab.config import TRANSPORTS, LabConfig
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import COMPONENTS, ComponentParams


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
