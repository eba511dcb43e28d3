"""The pipeline bench's CPU window: from the warm-up's end to the last poll the generator was read at."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from kafkalab.bench.pipeline_cpu import LoadCpu
from kafkalab.bench.pipeline_rows import WARMUP_S
from kafkalab.runtime.params import MARKET_PROCESSOR, TRADE_GENERATOR


class FakeProcess:
    """A component whose process is this test's own (its CPU time is real and grows)."""

    def __init__(self, name: str):
        self.name, self.running = name, True

    def component_pids(self) -> list[int]:
        return [os.getpid()] if self.running else []


def busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_window_opens_after_the_warm_up_and_ends_at_the_generators_last_poll():
    elsewhere = SimpleNamespace(bootstrap_servers="kafka.example:9092",
                                cluster=SimpleNamespace(bootstrap_servers="127.0.0.1:9092"))
    generator = FakeProcess(TRADE_GENERATOR)
    cpu = LoadCpu(elsewhere, {MARKET_PROCESSOR: FakeProcess(MARKET_PROCESSOR)}, generator)
    assert cpu.broker_pids == []  # brokers elsewhere are not sampled
    cpu.poll(0, None)
    cpu.poll(10, 0.0)
    assert cpu.window() is None  # still warming up
    began = time.monotonic()
    cpu.poll(100, WARMUP_S)
    assert cpu.window() is None  # one poll is no window
    busy(0.1)
    cpu.poll(300, WARMUP_S + 0.5)
    busy(0.1)
    cpu.poll(500, WARMUP_S + 1.0)
    ended = time.monotonic()
    generator.running = False
    time.sleep(0.5)
    cpu.poll(600, WARMUP_S + 1.5)  # the generator has exited: the window stays where it was
    window = cpu.window()
    assert window.trades == 400 and window.cores == os.cpu_count()
    assert 0.2 <= window.seconds <= ended - began
    assert set(window.percent) == {TRADE_GENERATOR, MARKET_PROCESSOR}
    assert all(pct > 0 for pct in window.percent.values())
