"""Stopping local node processes and sampling their cost (real child processes, no broker needed)."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

from kafkalab.runtime.processes import LocalNodes, signal_and_wait, usage_while

OBEYS = "import time; time.sleep(60)"
READY_THEN_SLEEPS = "import time; print('ready', flush=True); time.sleep(60)"
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


# ---- the node bookkeeping both local clusters share ---------------------------------------------

class _Config:
    def __init__(self, run_dir, node_ids=(1, 2)):
        self.run_dir, self.node_ids = run_dir, node_ids


class _Nodes(LocalNodes):
    """Nodes are python processes whose command line names their node folder."""

    error = ValueError
    kind = "test"
    down_command = "test down"

    def _is_node(self, proc, node_id):
        return str(self.node_dir(node_id)) in " ".join(proc.cmdline())

    def start(self, node_id):
        self.node_dir(node_id).mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", READY_THEN_SLEEPS, str(self.node_dir(node_id))],
                                stdout=subprocess.PIPE, text=True)
        # Until the child has exec'd, its command line is still pytest's: not yet recognisable as the node.
        assert proc.stdout.readline().strip() == "ready"
        self._pid_file(node_id).write_text(f"{proc.pid}\n")
        return proc


def test_a_node_is_known_by_its_pid_file_and_its_own_process_only(tmp_path):
    said = []
    nodes = _Nodes(_Config(tmp_path), echo=said.append)
    proc = nodes.start(1)
    assert nodes.node_pid(1) == proc.pid and nodes.running_pids() == [proc.pid]
    stranger = _start(OBEYS)  # a reused pid: alive, but not node 2
    nodes.node_dir(2).mkdir()
    nodes._pid_file(2).write_text(f"{stranger.pid}\n")
    assert nodes.node_pid(2) is None
    with pytest.raises(ValueError, match="refusing to wipe a running cluster; run `test down` first"):
        nodes.wipe()
    nodes._stop_one(1, kill=True, timeout_s=10.0)
    assert not psutil.pid_exists(proc.pid) and not nodes._pid_file(1).exists()
    nodes._stop_one(1, kill=False, timeout_s=10.0)
    assert said == ["node 1 is not running"]
    with pytest.raises(ValueError, match=r"there is no node 3; nodes are \[1, 2\]"):
        nodes._stop_one(3, kill=False, timeout_s=1.0)
    stranger.kill()
    stranger.wait()
    nodes.wipe()
    assert not tmp_path.exists()


def test_stopping_all_says_how_many_and_forgets_every_pid_file(tmp_path):
    said = []
    nodes = _Nodes(_Config(tmp_path), echo=said.append)
    procs = [nodes.start(1), nodes.start(2)]
    nodes._stop_all(nodes.running_pids(), timeout_s=10.0)
    assert not any(psutil.pid_exists(p.pid) for p in procs)
    assert not any(nodes._pid_file(n).exists() for n in (1, 2))
    nodes._stop_all([], timeout_s=1.0)
    assert said == ["stopped 2 test node(s)", "no test node was running"]


SPINS = "print('ready', flush=True)\nwhile True: pass"


def test_usage_while_counts_the_cpu_of_the_watched_processes_and_of_this_one_apart():
    spinner = _start(SPINS)
    try:
        assert spinner.stdout.readline().strip() == "ready"
        usage = usage_while([spinner.pid], lambda: sum(i * i for i in range(3_000_000)))
    finally:
        spinner.kill()
        spinner.wait()
    # two busy processes on a machine of two cores or more: each gets a good share of one
    assert 20 < usage.cpu_pct <= 110 and 20 < usage.own_cpu_pct <= 110, usage
    assert 1 < usage.rss_mib < 200, usage
    assert usage.result == sum(i * i for i in range(3_000_000))  # what the measured call returned
