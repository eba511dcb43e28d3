"""One pipeline run that a reliability scenario drives: start, wait, drain, stop, kill."""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from kafkalab import config as lab_config
from kafkalab.config import LabConfig
from kafkalab.pipeline.launcher import ComponentProcess
from kafkalab.pipeline.plan import CONSUMERS, PipelinePlan, private_plan
from kafkalab.pipeline.runner import NO_RESTARTS, Pipeline
from kafkalab.runtime.params import GENERATORS, ORDERBOOK_GENERATOR, TRADE_GENERATOR
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.components import group_id, input_topics
from kafkalab.transports.kafka.lag import LagProbe
from kafkalab.transports.kafka.plan import PLAN as KAFKA_PLAN


@dataclass
class PipelineRun:
    """The five components of one run, on their own topics, groups and results folder, each
    its own process through the pipeline launcher ("python" mode: no kernel start-up)."""

    config: LabConfig
    tag: str
    pipeline: Pipeline | None = None

    @classmethod
    def fresh(cls, bootstrap: str, results_dir: Path, tag: str = "", serializer: str = "json") -> "PipelineRun":
        config = lab_config.load(bootstrap_servers=bootstrap, results_dir=str(results_dir), serializer=serializer,
                                 transport="kafka")
        return cls(config, f"rel-{tag or uuid.uuid4().hex[:8]}")

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap_servers

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def acked_csv(self) -> Path:
        return self.config.results_dir / "acked.csv"

    @property
    def plan(self) -> PipelinePlan:
        return self.pipeline.plan if self.pipeline is not None else private_plan(self.tag, 0)

    def topic(self, stream: str) -> str:
        return self.plan.shared_params.stream(stream)

    def group(self, name: str) -> str:
        return group_id(name, self.plan.params(name))

    @property
    def topics(self) -> list[str]:
        return list(self.plan.shared_params.streams.values())

    def create_topics(self) -> None:
        KAFKA_PLAN.prepare(self.config, self.plan.shared_params)

    def delete_topics(self) -> None:
        try:
            clients.delete_topics(self.bootstrap, self.topics)
        except Exception:  # best effort: a test that broke the cluster must still report its own failure
            pass

    def build(self, trade_rate_hz: float, seconds: float, book_rate_hz: float = 10.0,
              generator_extra: dict | None = None) -> None:
        plan = private_plan(self.tag, seconds, overrides={
            TRADE_GENERATOR: {"rate_hz": trade_rate_hz, "acked_csv": str(self.acked_csv), **(generator_extra or {})},
            ORDERBOOK_GENERATOR: {"rate_hz": book_rate_hz}})
        # Restarts are the experiment's business here (a kill is part of the scenario), not a supervisor's.
        self.pipeline = Pipeline(self.config, plan, mode="python", restart=NO_RESTARTS)

    @property
    def procs(self) -> dict[str, ComponentProcess]:
        return self.pipeline.processes

    @property
    def consumers(self) -> list[str]:
        return list(CONSUMERS)

    @property
    def generators(self) -> list[str]:
        return list(GENERATORS)

    def start(self, names: Iterable[str] | None = None) -> None:
        self.pipeline.start([*self.consumers, *self.generators] if names is None else names)

    def wait_consuming(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> bool:
        """Until every consumer has set up and its group owns all its input partitions."""
        return self.pipeline.wait_until_consuming(timeout_s, tick)

    def failed(self) -> list[str]:
        """Components that exited with an error (one line each, with the end of their log); a
        kill -9 the scenario did itself is not an error."""
        out = []
        for name, proc in self.procs.items():
            if proc.returncode not in (None, 0) and proc.returncode != -signal.SIGKILL:
                out.append(f"{name} exited {proc.returncode}: {proc.last_lines(3)[-400:]}")
        return out

    def wait_generators(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.procs[n].running for n in self.generators) and time.monotonic() < deadline:
            tick()
            time.sleep(0.2)
        self.stop([n for n in self.generators if self.procs[n].running])  # over time: a clean stop

    def lags(self, probe: LagProbe) -> dict[str, int]:
        return {name: probe.lag(self.group(name), input_topics(name, self.plan.params(name)))
                for name in self.consumers}

    def drain(self, timeout_s: float, settle_s: float = 1.0) -> dict[str, int]:
        """Until every consumer group has committed all its input for `settle_s` in a row.

        No longer wait is needed for the processor's last windows: the offset it commits is that of
        the oldest record still in an open window, so its lag is 0 only once every window is closed
        and emitted (in the same transaction); the sinks' lags are read after it, against end
        offsets that include those results."""
        deadline = time.monotonic() + timeout_s
        zero_since, lags = None, {}
        with LagProbe(self.bootstrap) as probe:
            while time.monotonic() < deadline:
                try:
                    lags = self.lags(probe)
                except Exception:  # noqa: BLE001 - a probe during a leader change; ask again
                    lags = {}
                if lags and not any(lags.values()):
                    zero_since = zero_since or time.monotonic()
                    if time.monotonic() - zero_since >= settle_s:
                        return lags
                else:
                    zero_since = None
                time.sleep(0.5)
        return lags

    def stop(self, names: Iterable[str] | None = None, timeout_s: float = 60.0) -> dict[str, int | None]:
        """A clean stop through each component's stop file; their exit codes (None: still running)."""
        names = list(self.procs) if names is None else list(names)  # [] means none, not all
        for name in names:
            self.procs[name].request_stop()
        deadline = time.monotonic() + timeout_s
        return {name: self.procs[name].wait(max(0.1, deadline - time.monotonic())) for name in names}

    def kill_all(self) -> None:
        if self.pipeline is not None:
            for proc in self.procs.values():
                proc.kill()
