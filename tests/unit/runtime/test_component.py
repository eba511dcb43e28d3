"""The component runtime: bounds, stop requests, stop file, signals, cleanup (no Kafka)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

import psutil
import pytest

from kafkalab import config as lab_config
from kafkalab.runtime.loop import (Bounds, Component, Counters, last_printed, ready_file, run_component, run_loop,
                                   supervisor_alive, supervisor_token)
from kafkalab.errors import ConfigError


class Ticker(Component):
    name = "ticker"
    counter_names = ("ticks",)
    message_counter = "ticks"

    def __init__(self, fail_at: int = 0, on_tick=None) -> None:
        super().__init__()
        self.fail_at, self.on_tick = fail_at, on_tick
        self.events: list[str] = []

    def setup(self, stack: ExitStack) -> None:
        self.events.append("setup")
        stack.callback(self.events.append, "closed")

    def step(self) -> None:
        self.counters.add("ticks")
        if self.fail_at and self.counters["ticks"] == self.fail_at:
            raise RuntimeError("boom")
        if self.on_tick:
            self.on_tick(self)
        self.wait(0.001)

    def finish(self) -> None:
        self.events.append("finish")


def test_max_messages_bound_then_finish_then_close():
    component = Ticker()
    counters = run_loop(component, Bounds(max_messages=25))
    assert counters["ticks"] == 25
    assert component.events == ["setup", "finish", "closed"]


def test_max_seconds_bound():
    component = Ticker()
    run_loop(component, Bounds(max_seconds=0.2))
    assert 0.2 <= component.elapsed_s < 5


def test_failure_closes_without_finish_and_raises():
    component = Ticker(fail_at=3)
    with pytest.raises(RuntimeError, match="boom"):
        run_component(component, interactive=False, max_messages=10)
    assert component.events == ["setup", "closed"]  # no finish: nothing committed after a failure


def test_stop_from_another_thread():
    component = Ticker()
    threading.Timer(0.1, component.stop).start()
    run_loop(component, Bounds(max_seconds=30))
    assert component.elapsed_s < 10 and component.events[-2:] == ["finish", "closed"]


def test_stop_file(tmp_path):
    stop = tmp_path / "stop"
    component = Ticker(on_tick=lambda c: c.counters["ticks"] == 20 and stop.touch())
    run_loop(component, Bounds(max_seconds=30, stop_file=str(stop)))
    assert component.counters["ticks"] >= 20 and component.events[-2:] == ["finish", "closed"]


def test_ready_file_appears_after_setup_and_before_the_first_step(tmp_path):
    stop = tmp_path / "c.stop"
    seen = []
    component = Ticker(on_tick=lambda c: seen.append(ready_file(stop).exists()))
    assert not ready_file(stop).exists()
    run_loop(component, Bounds(max_messages=3, stop_file=str(stop)))
    assert ready_file(stop) == tmp_path / "c.stop.ready" and seen == [True, True, True]


def test_headless_run_logs_start_progress_and_summary_with_the_component_name(capsys):
    from kafkalab.runtime import logs

    logs.configure()  # the current stdout: what pytest captures
    run_component(Ticker(), interactive=False, max_messages=30, progress_every_s=0.005)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("INFO ticker: running (max_seconds 0, max_messages 30, stop_file -)"), lines
    assert any(" INFO ticker: [" in line and "ticks=" in line for line in lines[1:-1]), lines  # progress
    assert " INFO ticker: ticker: ticks=30 in " in lines[-1], lines
    assert all(" ticker: " in line for line in lines)


def test_rate_limiter_allows_once_per_period_and_key(monkeypatch):
    from kafkalab.runtime import logs

    now = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    limiter = logs.RateLimiter(5.0)
    assert limiter.ready("a") and not limiter.ready("a") and limiter.ready("b")
    now[0] += 4.9
    assert not limiter.ready("a")
    now[0] += 0.1
    assert limiter.ready("a")


def test_supervisor_token_names_this_process_and_a_reused_pid_is_not_it():
    pid, started = lab_config.supervisor({lab_config.ENV_SUPERVISOR: supervisor_token()})
    assert pid == os.getpid() and supervisor_alive(pid, started)
    assert not supervisor_alive(pid, started - 3600)  # same pid, another process


def test_loop_stops_cleanly_once_its_supervisor_is_gone(monkeypatch):
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setenv(lab_config.ENV_SUPERVISOR, f"{runner.pid}:{psutil.Process(runner.pid).create_time()}")

    def kill_runner(component):
        if component.counters["ticks"] == 20:
            runner.kill()
            runner.wait()

    component = Ticker(on_tick=kill_runner)
    run_loop(component, Bounds(max_seconds=30))
    assert component.counters["ticks"] >= 20 and component.elapsed_s < 10
    assert component.events[-2:] == ["finish", "closed"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_handlers_are_restored(signum):
    before = signal.getsignal(signum)
    component = Ticker(on_tick=lambda c: c.counters["ticks"] == 5 and os.kill(os.getpid(), signum))
    run_loop(component, Bounds(max_seconds=30))
    assert component.events[-2:] == ["finish", "closed"]
    assert signal.getsignal(signum) is before


def test_counters_are_readable_while_running():
    counters = Counters("a")
    threads = [threading.Thread(target=lambda: [counters.add("a") for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.snapshot() == {"a": 4000}


def test_negative_bounds_are_refused():
    with pytest.raises(ConfigError, match="max_seconds"):
        Bounds(max_seconds=-1)


def test_widget_panel_starts_and_stops_the_loop_in_a_thread():
    from kafkalab.runtime.widgets import ComponentPanel

    component = Ticker()
    panel = ComponentPanel(component, lambda: run_loop(component, Bounds(max_seconds=30)))
    panel.start()
    assert panel.running and component.stop_requested is False
    deadline = time.monotonic() + 20
    while component.counters["ticks"] < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert component.counters["ticks"] >= 10
    panel.stop(timeout_s=10)
    assert not panel.running and panel.error is None
    assert component.events[-2:] == ["finish", "closed"]
    panel.start()  # a second run with fresh clients
    panel.stop(timeout_s=10)
    assert component.events.count("setup") == 2 and not panel.running
    panel._refresh()
    assert "ticks" in panel.counters.value


def test_last_printed_reads_a_counter_back_from_what_the_component_printed():
    counters = Counters("sent", "acked")
    counters.add("sent", 12)
    counters.add("acked", 7)
    output = f"[    1.0 s] sent=3 acked=2\ntrade-generator: {counters!r}; unacked=40, target 10/s\n"
    assert last_printed(output, "acked") == 7
    assert last_printed(output, "sent") == 12
    assert last_printed(output, "failed") is None
