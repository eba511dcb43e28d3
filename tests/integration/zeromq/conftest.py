"""Fixtures of the ZeroMQ tests: real sockets on ipc:// paths of a private folder,
components run in threads (run_loop) or as processes (for kill -9), one bounded wait."""

from __future__ import annotations

import csv
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kafkalab import config as lab_config
from kafkalab.runtime.loop import Bounds, Component, run_loop
from kafkalab.transports.zeromq.addresses import STREAMS, ZmqSettings


def wait_for(condition, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll `condition` until true; fail after a generous bound (the machine is shared)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def socket_dir():
    # ipc:// paths must stay short (about 100 bytes), so not under pytest's tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="kl-zmq-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def zmq_settings(socket_dir) -> ZmqSettings:
    return ZmqSettings({s: f"ipc://{socket_dir}/{s}" for s in STREAMS}, hwm=100_000, subscriber_wait_s=10.0)


@pytest.fixture
def lab(tmp_path):
    return lab_config.load(results_dir=str(tmp_path / "results"))


class Running:
    """A component running run_loop in a thread; `stop()` ends it cleanly and re-raises its error."""

    def __init__(self, component: Component, bounds: Bounds = Bounds()) -> None:
        self.component = component
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(bounds,), name=component.name, daemon=True)
        self.thread.start()

    def _run(self, bounds: Bounds) -> None:
        try:
            run_loop(self.component, bounds)
        except BaseException as exc:  # re-raised in the test's thread by join()
            self.error = exc

    def join(self, timeout_s: float = 60.0) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"{self.component.name} did not stop within {timeout_s:g} s"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.component.stop()
        self.join()


@pytest.fixture
def running():
    started: list[Running] = []

    def start(component: Component, bounds: Bounds = Bounds()) -> Running:
        started.append(Running(component, bounds))
        return started[-1]

    yield start
    for item in started:
        item.component.stop()
    for item in started:
        item.thread.join(30)
