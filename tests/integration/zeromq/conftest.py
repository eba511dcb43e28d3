"""Fixtures of the ZeroMQ tests: real sockets on ipc:// paths of a private folder,
components run in threads (run_loop) or as processes (for kill -9), one bounded wait."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kafkalab import config as lab_config
from kafkalab.runtime.loop import Bounds, Component, run_loop
from kafkalab.transports.zeromq.addresses import STREAMS, ZmqSettings


@pytest.fixture
def socket_dir():
    # ipc:// paths must stay short (about 100 bytes), so not under pytest's tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="kl-zmq-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def zmq_settings(socket_dir) -> ZmqSettings:
    return ZmqSettings({s: f"ipc://{socket_dir}/{s}" for s in STREAMS}, hwm=100_000, subscriber_wait_s=30.0)


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
    failed = [f"{item.component.name}: {item.error!r}" for item in started if item.error is not None]
    assert not failed, f"a component thread failed: {failed}"


def complete_lines(path: Path) -> list[str]:
    """The CSV's complete lines (a line being written may lack its newline), header excluded."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    return [line for line in lines[1:-1] if line]


def last_sequence(path: Path) -> int:
    lines = complete_lines(path)
    return int(lines[-1].rpartition(":")[2]) if lines else 0


class ComponentProcess:
    """One component in its own process (component_process.py), for kill -9."""

    SCRIPT = Path(__file__).with_name("component_process.py")

    def __init__(self, name: str, results_dir: Path, socket_dir: Path, log_dir: Path, rate_hz: str = "") -> None:
        self.name = name
        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        root = Path(__file__).resolve().parents[3]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "lib"), str(root)])}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, str(self.SCRIPT), name, str(results_dir), str(socket_dir),
                                          rate_hz], stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 60.0) -> str:
        """SIGTERM (a clean stop); returns its output; fails if it did not exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        output = self.log.read_text()
        assert code == 0, f"{self.name} exited {code}:\n{output[-3000:]}"
        return output


@pytest.fixture
def spawn(tmp_path, socket_dir, lab):
    started: list[ComponentProcess] = []

    def start(name: str, rate_hz: str = "") -> ComponentProcess:
        started.append(ComponentProcess(name, lab.results_dir, socket_dir, tmp_path, rate_hz))
        return started[-1]

    yield start
    for item in started:
        if item.proc.poll() is None:
            item.proc.kill()
            item.proc.wait(30)
