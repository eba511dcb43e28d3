"""Local broker processes: what the Kafka and RabbitMQ clusters share about starting and stopping nodes."""

from __future__ import annotations

import signal
import socket
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


def signal_and_wait(pids: list[int], sig: signal.Signals, timeout_s: float, echo: Callable[[str], None]) -> None:
    """Send `sig` to every pid still alive and wait for them; a node that does not stop in time
    (a shutdown that hangs) is killed, so no stray broker process outlives its cluster."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(sig)
            procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        echo(f"node pid {proc.pid} did not stop within {timeout_s:g} s; killing it")
        proc.kill()
    psutil.wait_procs(alive, timeout=10)
