"""CPU and memory of each component process over a run.

`kafkalab run` prints them per component in its result line, and `bench transports` compares
them between the transports at the same load. What is counted: the process the component's
loop runs in (papermill's kernel in notebook mode, the process itself in python mode), from
its start to the last sample (the runner samples every poll, 0.25 s: a process that exits
loses at most that much CPU time). A restarted component adds its new process's time.

Start-up (imports, connecting, a JVM) costs seconds of CPU that say nothing about the load,
so `steady_cpu_percent` is measured over a window only: from the moment every component is
ready (`begin`) until the generators have finished (`end`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil


@dataclass
class Usage:
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    _cpu_by_pid: dict[int, float] = field(default_factory=dict, repr=False)

    def note(self, pid: int, cpu_s: float, rss_bytes: int) -> None:
        self.cpu_s += cpu_s - self._cpu_by_pid.get(pid, 0.0)
        self._cpu_by_pid[pid] = cpu_s
        self.peak_rss_mib = max(self.peak_rss_mib, rss_bytes / 2**20)


class ResourceMeter:
    """Per component name: CPU seconds and peak resident memory of its processes."""

    def __init__(self) -> None:
        self.usage: dict[str, Usage] = {}
        self.started = time.monotonic()
        self._processes: dict[int, psutil.Process] = {}
        self._window: list[tuple[float, dict[str, float]]] = []  # (time, CPU seconds per name) at begin, end

    def _mark(self) -> None:
        self._window.append((time.monotonic(), {name: u.cpu_s for name, u in self.usage.items()}))

    def begin(self) -> None:
        """Every component is ready: the steady window starts (once)."""
        if not self._window:
            self._mark()

    def end(self) -> None:
        """The load has ended: the steady window ends (once, and only after it began)."""
        if len(self._window) == 1:
            self._mark()

    def end_here(self) -> None:
        """Move the end of the window to now (or set it): for a caller that learns only at a later
        sample which one was the last valid one (a process that has exited can no longer be read)."""
        del self._window[1:]
        self.end()

    @property
    def steady_s(self) -> float:
        return self._window[1][0] - self._window[0][0] if len(self._window) == 2 else 0.0

    def steady_cpu_percent(self, name: str) -> float | None:
        """CPU in % of one core between begin and end; None when no window was measured."""
        if self.steady_s <= 0:
            return None
        (_, before), (_, after) = self._window
        return 100 * (after.get(name, 0.0) - before.get(name, 0.0)) / self.steady_s

    def sample(self, name: str, pids: list[int]) -> None:
        usage = self.usage.setdefault(name, Usage())
        for pid in pids:
            try:
                process = self._processes.get(pid) or self._processes.setdefault(pid, psutil.Process(pid))
                with process.oneshot():
                    times, rss = process.cpu_times(), process.memory_info().rss
            except psutil.Error:  # it has just exited: what it used up to the last sample is counted
                continue
            usage.note(pid, times.user + times.system, rss)

    def summary(self) -> str:
        """One plain-text clause: CPU seconds and peak RSS per component."""
        if not self.usage:
            return "no component resources sampled"
        return "CPU / peak memory: " + ", ".join(
            f"{name} {u.cpu_s:.1f} s / {u.peak_rss_mib:.0f} MiB" for name, u in self.usage.items())
