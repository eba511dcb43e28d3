"""ZeroMQ's TransportPlan (the Protocol is kafkalab.pipeline.plan's): there is no broker.

- broker(): nothing to start or stop; it says so once.
- prepare(): nothing to declare (a stream exists while its producer binds it); it checks
  the endpoint settings, so a typo fails before any component starts.
- backlog(): None: ZeroMQ's queues live inside the components' sockets; nobody can ask
  how much waits for a consumer (the sinks' and processor's gap counts say what was lost).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from kafkalab.config import LabConfig
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.zeromq.addresses import settings_of


class ZeroMqPlan:
    transport = "zeromq"

    @contextmanager
    def broker(self, config: LabConfig, echo: Callable[[str], None] = print) -> Iterator[None]:
        settings = settings_of(config)
        echo("zeromq: no broker; components bind and connect directly ("
             + ", ".join(f"{s} {a}" for s, a in settings.endpoints.items()) + ")")
        yield

    def prepare(self, config: LabConfig, params: ComponentParams | None = None) -> None:
        settings_of(config)

    def backlog(self, config: LabConfig, component: str, params: ComponentParams | None = None) -> int | None:
        return None


PLAN = ZeroMqPlan()
