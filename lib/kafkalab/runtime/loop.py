"""The runtime every generator, processor and sink shares: one bounded, stoppable loop.

A component is a small class with three hooks:

- `setup(stack)`   open clients and files; register every close with the ExitStack so
                   they are closed whatever happens (producers are flushed by
                   `clients.producer`, consumers closed by `clients.consumer`).
- `step()`         one loop iteration (poll, produce, write...). It must return within
                   about a second so a stop request is noticed promptly.
- `finish()`       clean end only (bound reached or stop requested): flush, commit the
                   last offsets, sync files. Not called after an exception: the
                   component then exits without committing, so the work is replayed.

`run_loop(component, bounds)` drives them: it stops at `bounds.max_seconds` /
`bounds.max_messages` (0 = unbounded; messages are `component.message_count()`), on
`component.stop()` (the widgets' Stop button, any thread), on SIGTERM/SIGINT (handlers
installed only when running in the main thread, previous handlers restored after), or
when `bounds.stop_file` exists.

Stopping a component that papermill runs (the pipeline runner relies on this)
------------------------------------------------------------------------------
Papermill executes the notebook in a Jupyter kernel, a *child process started in its own
session* (jupyter_client uses start_new_session=True). So:

- SIGTERM to the papermill process does NOT reach the kernel: papermill dies at once,
  the executed notebook is not written, and the kernel is killed later by its parent
  poller (os._exit: no flush, no commit). `os.killpg` on papermill's group does not
  reach it either (different process group).
- What works, in order of preference:
  1. **Stop file** (recommended; needs no process ids): pass the notebook parameter
     `stop_file=<path>` (e.g. results/runs/<component>.stop) and create that file to
     stop. The loop checks it every `STOP_FILE_CHECK_S` seconds, finishes cleanly, the
     cell returns, papermill saves the executed notebook and exits 0.
  2. **Signal the kernel**: send SIGTERM (or SIGINT) to papermill's child kernel
     process (`kernel_pids(papermill_pid)` below finds it with psutil). The handler
     installed by `run_loop` requests the same clean stop; papermill then exits 0.
  Either way, wait for papermill to exit (a flush can take a few seconds; allow
  `clients.FLUSH_TIMEOUT_S` + 10 s) before killing anything harder.
- A runner that dies without stopping its components (kill -9, a crash) would leave them
  running for good, each in its own session. So the runner names itself in
  KAFKALAB_SUPERVISOR and the loop, at each stop-file check, stops cleanly once that
  process is gone (`supervisor_alive`).

Readiness: once setup() is done (clients connected, files open) the loop writes
`<stop_file>.ready`, so a launcher knows the component is up without asking the transport.

Progress: headless runs log one counter line every `progress_every_s` seconds
(kafkalab.runtime.logs: it reads well in papermill output and in `docker logs`);
interactive runs show live counters in the widgets (see kafkalab.runtime.widgets).
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kafkalab import config
from kafkalab.errors import ConfigError
from kafkalab.runtime.logs import RateLimiter, log

STOP_FILE_CHECK_S = 0.5
READY_SUFFIX = ".ready"
DEFAULT_PROGRESS_EVERY_S = 5.0


class Counters:
    """Named integer counters, safe to update from one thread and read from another."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {name: 0 for name in names}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def set(self, name: str, value: int) -> None:
        with self._lock:
            self._values[name] = value

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def __repr__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.snapshot().items())


def last_printed(output: str, name: str) -> int | None:
    """The last value of counter `name` in a component's output (its progress and summary lines
    print Counters' repr), or None if it never printed it."""
    values = re.findall(rf"\b{re.escape(name)}=(\d+)", output)
    return int(values[-1]) if values else None


@dataclass(frozen=True)
class Bounds:
    """When a loop ends by itself. 0 means unbounded."""

    max_seconds: float = 0.0
    max_messages: int = 0
    stop_file: str = ""  # the loop ends cleanly once this file exists ("" = no stop file)

    def __post_init__(self) -> None:
        if self.max_seconds < 0 or self.max_messages < 0:
            raise ConfigError(
                f"max_seconds and max_messages must be 0 (unbounded) or positive "
                f"(got {self.max_seconds}, {self.max_messages})"
            )


class Component:
    """Base class: subclasses set `name`, `counter_names`, `message_counter`, and the hooks."""

    name: str = "component"
    counter_names: tuple[str, ...] = ()
    message_counter: str = ""  # which counter max_messages bounds

    def __init__(self) -> None:
        self.counters = Counters(*self.counter_names)
        self._stop = threading.Event()
        self.bounds = Bounds()
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # -- hooks ---------------------------------------------------------------
    def setup(self, stack: ExitStack) -> None:
        """Open clients/files; register their closing with `stack`."""

    def step(self) -> None:  # pragma: no cover - every component overrides it
        raise NotImplementedError

    def finish(self) -> None:
        """Clean end: flush, commit, sync. Clients are still open here."""

    def summary(self) -> str:
        """One line printed at the end of a headless run."""
        return f"{self.name}: {self.counters!r}"

    # -- control ---------------------------------------------------------------
    def message_count(self) -> int:
        return self.counters[self.message_counter] if self.message_counter else 0

    def messages_left(self) -> int | None:
        """How many messages max_messages still allows (None = unbounded)."""
        if not self.bounds.max_messages:
            return None
        return max(0, self.bounds.max_messages - self.message_count())

    def stop(self) -> None:
        """Ask the loop to end cleanly (safe from any thread or a signal handler)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def reset_stop(self) -> None:
        self._stop.clear()

    def reset_counters(self) -> None:
        """Fresh counters for a new start: the counters of one start count the same records."""
        self.counters = Counters(*self.counter_names)

    @property
    def log(self):
        """This component's logger: lines read `<time> <level> <name>: <message>`."""
        return log(self.name)

    def wait(self, seconds: float) -> bool:
        """Sleep that wakes up on stop(); True if a stop was requested."""
        return self._stop.wait(seconds)

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.stopped_at or time.monotonic()) - self.started_at


def _install_signal_handlers(component: Component) -> Callable[[], None]:
    """SIGTERM/SIGINT -> component.stop(); returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal.signal only works in the main thread

    def handler(signum, _frame) -> None:
        log(component.name).info(f"{signal.Signals(signum).name} received, stopping cleanly")
        component.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def ready_file(stop_file: str | Path) -> Path:
    """Where the loop reports that setup() is done: `<stop_file>.ready`."""
    return Path(f"{stop_file}{READY_SUFFIX}")


def run_loop(component: Component, bounds: Bounds = Bounds(), *,
             progress_every_s: float = DEFAULT_PROGRESS_EVERY_S,
             progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run the component until a bound, a stop request or an error; returns the counters.

    Errors propagate (after the clients are closed) so papermill exits non-zero.
    `progress` receives a counter line every `progress_every_s` seconds (None = silent).
    """
    restore = _install_signal_handlers(component)
    stop_file = Path(bounds.stop_file) if bounds.stop_file else None
    supervisor = config.supervisor()
    try:
        with ExitStack() as stack:
            component.bounds = bounds  # a step that works in batches may look at the bounds
            component.setup(stack)
            if stop_file is not None:
                ready_file(stop_file).touch()
            component.started_at, component.stopped_at = time.monotonic(), None
            deadline = component.started_at + bounds.max_seconds if bounds.max_seconds else None
            report, check_file = RateLimiter(progress_every_s), RateLimiter(STOP_FILE_CHECK_S)
            report.ready(), check_file.ready()  # the first report is due one period from now
            while not component.stop_requested:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if bounds.max_messages and component.message_count() >= bounds.max_messages:
                    break
                if check_file.ready() and _told_to_stop(component, stop_file, supervisor):
                    break
                component.step()
                if progress is not None and report.ready():
                    progress(_progress_line(component))
            component.finish()
            component.stopped_at = time.monotonic()
    finally:
        if component.stopped_at is None:
            component.stopped_at = time.monotonic()
        restore()
    return component.counters.snapshot()


def _told_to_stop(component: Component, stop_file: Path | None, supervisor: tuple[int, float] | None) -> bool:
    if stop_file is not None and stop_file.exists():
        log(component.name).info(f"stop file {stop_file} found, stopping cleanly")
        return True
    if supervisor is not None and not supervisor_alive(*supervisor):
        log(component.name).info(f"the process that started it (pid {supervisor[0]}) is gone, stopping cleanly")
        return True
    return False


def _progress_line(component: Component) -> str:
    return f"[{component.elapsed_s:7.1f} s] {component.counters!r}"


def run_component(component: Component, *, interactive: bool | None = None,
                  max_seconds: float = 0.0, max_messages: int = 0, stop_file: str = "",
                  progress_every_s: float = DEFAULT_PROGRESS_EVERY_S):
    """Run a component the way its notebook needs.

    interactive=True: show Start/Stop buttons and live counters (ipywidgets) and run the
    loop in a background thread when Start is clicked; returns the panel.
    interactive=False: run to the bound in this thread, printing progress; raise on
    failure (papermill then exits non-zero); returns the final counters.
    interactive=None: interactive only inside a Jupyter server's kernel (JupyterLab),
    headless otherwise (papermill, plain Python).
    """
    bounds = Bounds(float(max_seconds or 0), int(max_messages or 0), str(stop_file or ""))
    if interactive is None:
        interactive = config.in_jupyter_server()
    if interactive:
        # widgets imports nothing from here (no import cycle): it is handed the loop to run.
        from kafkalab.runtime.widgets import ComponentPanel

        panel = ComponentPanel(component, lambda: run_loop(component, bounds, progress=None))
        panel.show()
        return panel

    report = log(component.name)
    report.info(f"running (max_seconds {bounds.max_seconds:g}, max_messages {bounds.max_messages}, "
                f"stop_file {bounds.stop_file or '-'})")
    counters = run_loop(component, bounds, progress_every_s=progress_every_s, progress=report.info)
    report.info(f"{component.summary()} in {component.elapsed_s:.1f} s")
    return counters


def supervisor_token() -> str:
    """This process as a supervisor, for KAFKALAB_SUPERVISOR: "<pid>:<start time>"."""
    return f"{os.getpid()}:{process_started_s(os.getpid())}"


def supervisor_alive(pid: int, started: float) -> bool:
    """The supervisor process still runs (the start time guards against a reused pid)."""
    import psutil

    try:
        return abs(process_started_s(pid) - started) < 0.01
    except (OSError, psutil.Error):
        return False


def process_started_s(pid: int) -> float:
    """When `pid` started. On Linux in seconds since boot, from /proc/<pid>/stat, which never
    changes: psutil's create_time() adds the boot time, which Linux recomputes from the wall
    clock on every read, so two processes can see one start time a second apart (psutil issues
    2526, 2541), and a component would take its living supervisor for gone. Elsewhere psutil's."""
    if Path("/proc/self/stat").exists():
        # fields after the command name, which is in parentheses and may hold spaces; starttime is field 22
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    import psutil

    return psutil.Process(pid).create_time()


def kernel_pids(papermill_pid: int) -> list[int]:
    """Pids of the Jupyter kernels a papermill process started (its python children)."""
    import psutil

    try:
        children = psutil.Process(papermill_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in children:
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids
