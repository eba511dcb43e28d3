"""Local broker processes: what the Kafka and RabbitMQ clusters share about starting and stopping nodes."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Callable, NamedTuple

import psutil


def port_is_free(port: int) -> bool:
    """True if a node could listen on 127.0.0.1:`port` now (checked before any node starts, so a
    taken port never leaves half a cluster running)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def signal_and_wait(pids: list[int], sig: signal.Signals, timeout_s: float, echo: Callable[[str], None],
                    last_one_grace_s: float | None = None) -> None:
    """Send `sig` to every pid still alive and wait for them; a node that does not stop in time
    (a shutdown that hangs) is killed, so no stray broker process outlives its cluster.

    last_one_grace_s: once the others have stopped, the last node waits at most this long. A
    quorum-based node stopping last cannot finish a controlled shutdown (no quorum is left to
    grant it) and would otherwise sit out the whole timeout."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(sig)
            procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout_s
    alive, graced = procs, False
    while alive and time.monotonic() < deadline:
        _, alive = psutil.wait_procs(alive, timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        if last_one_grace_s is not None and not graced and len(procs) > 1 and len(alive) == 1:
            deadline, graced = min(deadline, time.monotonic() + last_one_grace_s), True
    for proc in alive:
        echo(f"node pid {proc.pid} did not stop in time; killing it")
        proc.kill()
    psutil.wait_procs(alive, timeout=10)


class LocalNodes:
    """What the local Kafka and RabbitMQ clusters share: a folder and a pid file per node under
    the run folder, the node-id check, stopping one node or all, and wiping the run folder.

    A subclass says how to recognise its own node in a live process (`_is_node`: a pid file may
    name a pid the OS has since given to another program), which error it raises and which
    command stops the whole cluster."""

    error: type[Exception] = Exception
    kind = "broker"  # in messages: "stopped 3 Kafka node(s)"
    down_command = ""  # the command a user runs to stop the cluster

    def __init__(self, config, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo

    def node_dir(self, node_id: int) -> Path:
        return self.config.run_dir / f"node-{node_id}"

    def _pid_file(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "pid"

    def _is_node(self, proc: psutil.Process, node_id: int) -> bool:
        raise NotImplementedError

    def node_pid(self, node_id: int) -> int | None:
        """The pid of this node's VM if it is alive and really is this node."""
        try:
            pid = int(self._pid_file(node_id).read_text().strip())
            ours = self._is_node(psutil.Process(pid), node_id)
        except (FileNotFoundError, ValueError, psutil.Error):
            return None
        return pid if ours else None

    def running_pids(self) -> list[int]:
        return [pid for n in self.config.node_ids if (pid := self.node_pid(n)) is not None]

    def _check_node_id(self, node_id: int) -> None:
        if node_id not in self.config.node_ids:
            raise self.error(f"there is no node {node_id}; nodes are {list(self.config.node_ids)}")

    def _stop_one(self, node_id: int, kill: bool, timeout_s: float) -> None:
        """SIGTERM (an orderly shutdown) by default, SIGKILL with kill=True."""
        self._check_node_id(node_id)
        pid = self.node_pid(node_id)
        if pid is None:
            self.echo(f"node {node_id} is not running")
            return
        signal_and_wait([pid], signal.SIGKILL if kill else signal.SIGTERM, timeout_s, self.echo)
        self._pid_file(node_id).unlink(missing_ok=True)

    def _stop_all(self, pids: list[int], timeout_s: float, last_one_grace_s: float | None = None) -> None:
        signal_and_wait(pids, signal.SIGTERM, timeout_s, self.echo, last_one_grace_s=last_one_grace_s)
        for node_id in self.config.node_ids:
            self._pid_file(node_id).unlink(missing_ok=True)
        self.echo(f"stopped {len(pids)} {self.kind} node(s)" if pids else f"no {self.kind} node was running")

    def wipe(self) -> None:
        """Delete the run folder: data, logs and secrets (the cluster must be down)."""
        if self.running_pids():
            raise self.error(f"refusing to wipe a running cluster; run `{self.down_command}` first")
        shutil.rmtree(self.config.run_dir, ignore_errors=True)


class Usage(NamedTuple):
    cpu_pct: float  # % of one core, summed over the processes watched
    rss_mib: float  # summed at the end
    own_cpu_pct: float  # this process (e.g. the client that drove the load, its library threads included)
    result: object  # what run() returned


def usage_while(pids: list[int], run: Callable[[], object]) -> Usage:
    """What the processes `pids` (a broker's nodes) and this process cost while `run()` runs."""
    procs = [psutil.Process(p) for p in pids]
    before = [p.cpu_times() for p in procs]
    own_before, began = time.process_time(), time.monotonic()
    result = run()
    elapsed = time.monotonic() - began
    cpu = sum((a.user + a.system) - (b.user + b.system) for a, b in zip((p.cpu_times() for p in procs), before))
    return Usage(100 * cpu / elapsed, sum(p.memory_info().rss for p in procs) / 2**20,
                 100 * (time.process_time() - own_before) / elapsed, result)
