"""Local broker processes: what the Kafka and RabbitMQ clusters share about starting and stopping nodes."""

from __future__ import annotations

import signal
import socket
import time
from typing import Callable

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
