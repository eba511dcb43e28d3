"""Stopping local node processes (real child processes, no broker needed)."""

import signal
import subprocess
import sys
import time

import psutil

from kafkalab.runtime.processes import signal_and_wait

OBEYS = "import time; time.sleep(60)"
IGNORES = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def _start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_the_last_node_left_gets_only_its_grace_then_is_killed():
    obeys, ignores = _start(OBEYS), _start(IGNORES)
    assert ignores.stdout.readline().strip() == "ready"  # its handler is in place before the signal
    said = []
    started = time.monotonic()
    signal_and_wait([obeys.pid, ignores.pid], signal.SIGTERM, 30.0, said.append, last_one_grace_s=1.0)
    took = time.monotonic() - started
    # (signal_and_wait reaps the children itself, so their exit status is not ours to read)
    assert not psutil.pid_exists(obeys.pid) and not psutil.pid_exists(ignores.pid)
    assert took < 15, f"waited {took:.1f} s although the grace was 1 s"
    assert said == [f"node pid {ignores.pid} did not stop in time; killing it"]


def test_without_a_grace_a_node_that_stops_is_not_killed():
    proc, said = _start(OBEYS), []
    signal_and_wait([proc.pid], signal.SIGTERM, 10.0, said.append)
    assert not psutil.pid_exists(proc.pid) and said == []
