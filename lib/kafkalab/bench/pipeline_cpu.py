"""Where the machine's CPU goes during one load of the pipeline bench (kafkalab.bench.pipeline).

Sampled at every poll of the load: each component's process (papermill's kernel, as
kafkalab.pipeline.resources counts it) and, when the bootstrap servers are the lab's own local
cluster, the three broker JVMs. Not sampled: papermill's parent processes and the bench itself.

The steady window (ResourceMeter's begin/end) opens at the first poll at least WARMUP_S after
the load's first record was seen, as the latency leaves out the new generator connecting, and
closes at the last poll at which the trade generator was still running and read: once its
process has exited, its CPU time can no longer be read. The trades the topic received between
the same two polls go with it, so the CPU per trade compares like with like.
"""

from __future__ import annotations

import os

from kafkalab.bench.pipeline_rows import BROKERS, WARMUP_S, CpuWindow
from kafkalab.pipeline.launcher import ComponentProcess
from kafkalab.pipeline.resources import ResourceMeter
from kafkalab.transports.kafka.bench import local_broker_pids


class LoadCpu:
    """The CPU of one load, sampled by `poll` and read by `window` once the load is over."""

    def __init__(self, config, processes: dict[str, ComponentProcess], generator: ComponentProcess):
        """`processes`: the long-running components; `generator`: this load's trade generator."""
        self.processes, self.generator = {**processes, generator.name: generator}, generator
        self.broker_pids = local_broker_pids(config)  # brokers elsewhere: not ours to sample
        self.meter = ResourceMeter()
        self.trades_at: list[int] = []  # the topic's count at the window's begin and (so far) end

    def poll(self, produced: int, since_first_record_s: float | None) -> None:
        """Sample every process; `produced`: records the trades topic has grown by so far."""
        pids = {name: proc.component_pids() for name, proc in self.processes.items()}
        for name, component_pids in pids.items():
            self.meter.sample(name, component_pids)
        if self.broker_pids:
            self.meter.sample(BROKERS, self.broker_pids)
        generator_read = bool(pids[self.generator.name]) and self.generator.running
        if since_first_record_s is None or since_first_record_s < WARMUP_S or not generator_read:
            return
        if self.trades_at:
            self.meter.end_here()
        else:
            self.meter.begin()
        self.trades_at[1:] = []
        self.trades_at.append(produced)

    def window(self) -> CpuWindow | None:
        """None when the load ended before a window of two polls was measured."""
        if self.meter.steady_s <= 0 or len(self.trades_at) < 2:
            return None
        return CpuWindow(self.meter.steady_s, {name: self.meter.steady_cpu_percent(name) for name in self.meter.usage},
                         self.trades_at[1] - self.trades_at[0], os.cpu_count() or 1)
