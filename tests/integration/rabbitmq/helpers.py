"""One place for the RabbitMQ tests' helpers: fresh queues, components as processes, CSV rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pika

from kafkalab import config as lab_config
from kafkalab.pipeline.plan import transport_plan
from kafkalab.runtime.loop import last_printed
from kafkalab.runtime.params import ComponentParams
from kafkalab.transports.rabbitmq.clients import parameters
from kafkalab.transports.rabbitmq.errors import RabbitError
from kafkalab.transports.rabbitmq.topology import DEAD_LETTER_QUEUE, QUEUES, declare_topology
from helpers import wait_for


def fresh_topology(cluster) -> None:
    """Declared, and every queue emptied: each test starts from nothing waiting."""
    declare_topology(cluster.urls())
    with pika.BlockingConnection([parameters(u, "test-purge") for u in cluster.urls()]) as connection:
        channel = connection.channel()
        for queue in QUEUES:
            channel.queue_purge(queue.name)


class Proc:
    """A component in its own process (`components.main`), stopped by its stop file."""

    def __init__(self, name: str, results_dir: Path, env: dict | None = None, **params) -> None:
        self.name, self.stop_file = name, results_dir / "runs" / f"{name}.stop"
        self.stop_file.parent.mkdir(parents=True, exist_ok=True)
        self.stop_file.unlink(missing_ok=True)
        self.log = results_dir / "runs" / f"{name}.{os.getpid()}.{id(self)}.log"
        args = [f"{k}={v}" for k, v in {"results_dir": results_dir, "stop_file": self.stop_file, **params}.items()]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kafkalab.transports.rabbitmq.components", name, *args],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def stop(self, timeout_s: float = 90) -> int:
        self.stop_file.touch()
        return self.wait(timeout_s)

    def wait(self, timeout_s: float = 90) -> int:
        code = self.process.wait(timeout_s)
        assert code == 0, f"{self.name} exited {code}: {self.output()[-1500:]}"
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def output(self) -> str:
        return self.log.read_text()

    def counter(self, name: str) -> int:
        return last_counter(self.output(), name)


def last_counter(log_text: str, name: str) -> int:
    """The last value of counter `name` a component printed (its summary line), 0 if none."""
    return last_printed(log_text, name) or 0


def dead_letters(cluster) -> list[tuple[dict, bytes]]:
    """(headers, body) of every message in the dead-letter queue, taken off it."""
    found = []
    with pika.BlockingConnection([parameters(u, "test-dead-letters") for u in cluster.urls()]) as connection:
        channel = connection.channel()
        while True:
            method, props, body = channel.basic_get(DEAD_LETTER_QUEUE, auto_ack=True)
            if method is None:
                return found
            found.append((props.headers or {}, body))


def wait_drained(components, timeout_s: float = 90) -> None:
    """Until the queues of `components` are empty and acked, asked in the order given (data flow:
    the processor's input is acked only once its candles are confirmed, so the candles queue is
    asked after that), with the count and the settle time the pipeline's drain uses."""
    plan, config, params = transport_plan("rabbitmq"), lab_config.load(), ComponentParams()
    settle_s = max(plan.settle_s(c) for c in components)
    zero_since: list[float] = []

    def backlog(component: str) -> int | None:
        try:
            return plan.backlog(config, component, params)
        except RabbitError:  # a queue without a leader for now, or before its first statistics tick
            return None

    def settled() -> bool:
        if not all(backlog(c) == 0 for c in components):
            zero_since.clear()
            return False
        zero_since[:] = zero_since or [time.monotonic()]
        return time.monotonic() - zero_since[0] >= settle_s

    wait_for(settled, timeout_s, f"queues of {', '.join(components)} empty and acked for {settle_s:g} s",
             step_s=1.0)
