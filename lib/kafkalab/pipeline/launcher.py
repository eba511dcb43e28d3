"""The one launcher: a component as its own process, stopped through its stop file.

Two modes, the same entry (kafkalab.pipeline.entry.run_component) and the same stop file:

- "notebook": `python -m papermill notebooks/<notebook>.ipynb results/runs/<label>.ipynb`
  with the parameters as `-p`/`-r` (what `kafkalab run` and Docker do; the executed
  notebook is kept). The component runs in the Jupyter kernel papermill starts.
- "python": `python -m kafkalab.pipeline.entry <name> <parameters as JSON>`: no kernel, so
  it starts in a second rather than several (benchmarks, tests that kill components).

Each process gets its own session (a terminal Ctrl-C reaches only the runner, which stops
every component cleanly) and KAFKALAB_SUPERVISOR (a component whose runner died without
stopping it stops by itself). Why a stop file and not a signal to papermill: see
kafkalab.runtime.loop. The component process is the kernel under papermill: `signal` and
`kill` reach it, not papermill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafkalab.config import ENV_SUPERVISOR, LabConfig
from kafkalab.errors import LabError
from kafkalab.pipeline.plan import ComponentSpec
from kafkalab.runtime.loop import kernel_pids, ready_file, supervisor_token

MODES = ("notebook", "python")
PAPERMILL_DEAD_KERNEL = 138  # papermill's exit code when the kernel died under it (kill -9, out of memory)


class PipelineError(LabError):
    """A component failed or the pipeline could not be started or stopped."""


def component_parameters(spec: ComponentSpec, config: LabConfig) -> dict[str, object]:
    """Everything the component's entry needs: its own parameters (defaults left out, so the
    notebook's own defaults show) plus the LabConfig's transport, brokers, serializer and folder."""
    defaults = type(spec.params)().to_parameters()
    own = {k: v for k, v in spec.params.to_parameters().items() if v != defaults[k]}
    return {"transport": config.transport, "bootstrap_servers": config.bootstrap_servers,
            "serializer": spec.params.serializer or config.serializer,
            "results_dir": spec.params.results_dir or str(config.results_dir), **own}


class ComponentProcess:
    """One component process; `label` names its files under results/runs (default: its notebook)."""

    def __init__(self, spec: ComponentSpec, config: LabConfig, mode: str = "notebook", label: str = ""):
        if mode not in MODES:
            raise PipelineError(f"launcher mode must be one of {', '.join(MODES)} (got {mode!r})")
        self.spec, self.config, self.mode = spec, config, mode
        self.label = label or spec.notebook
        self.notebook = config.project_root / "notebooks" / f"{spec.notebook}.ipynb"
        self.executed = config.runs_dir / f"{self.label}.ipynb"
        self.log_path = config.runs_dir / f"{self.label}.log"
        self.stop_file = config.runs_dir / f"{self.label}.stop"
        self.popen: subprocess.Popen | None = None
        self.stop_requested_at: float | None = None
        self.starts = 0
        self.extra: dict[str, object] = {}  # parameters of the next start only (e.g. a shorter bound)

    @property
    def name(self) -> str:
        return self.spec.name

    def parameters(self) -> dict[str, object]:
        return {**component_parameters(self.spec, self.config), **self.extra, "stop_file": str(self.stop_file)}

    def command(self) -> list[str]:
        if self.mode == "python":
            return [sys.executable, "-m", "kafkalab.pipeline.entry", self.name, json.dumps(self.parameters())]
        args = [sys.executable, "-m", "papermill", str(self.notebook), str(self.executed), "--log-output",
                "--no-progress-bar", "--cwd", str(self.config.project_root)]
        # interactive=False: headless even when started from inside JupyterLab (whose session
        # variable the kernel would inherit and take for an interactive session).
        for key, value in {**self.parameters(), "interactive": False}.items():
            # -r keeps strings as strings (a group id "123" must not become an int);
            # -p lets papermill turn numbers, True/False and None into Python values.
            args += (["-p", key, str(value)] if value is None or isinstance(value, (bool, int, float))
                     else ["-r", key, str(value)])
        return args

    def check(self) -> None:
        """Refuse to start what papermill would run wrongly."""
        if self.mode == "python":
            return
        if not self.notebook.exists():
            raise PipelineError(f"notebook {self.notebook} is missing; is this a complete checkout?")
        unknown = sorted(set(self.parameters()) - notebook_parameters(self.notebook))
        if unknown:  # papermill would only warn and the value would silently do nothing
            raise PipelineError(f"notebook {self.notebook.name} has no parameter(s) {', '.join(unknown)}; "
                                f"the launcher and the notebook disagree")

    def start(self) -> None:
        self.check()
        self.config.runs_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.stop_file, ready_file(self.stop_file)):
            stale.unlink(missing_ok=True)
        self.executed.unlink(missing_ok=True)
        self.starts += 1
        self.stop_requested_at = None
        with self.log_path.open("a" if self.starts > 1 else "w") as log:
            if self.starts > 1:  # a restart keeps the output of the runs before it
                log.write(f"--- start {self.starts} ---\n")
                log.flush()
            env = {**os.environ, ENV_SUPERVISOR: supervisor_token()}
            self.popen = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                          stdin=subprocess.DEVNULL, cwd=self.config.project_root,
                                          start_new_session=True)
        self.extra = {}

    # -- state ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The component's setup() is done (its loop wrote the ready file)."""
        return self.running and ready_file(self.stop_file).exists()

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.popen.wait(timeout_s) if self.popen is not None else None
        except subprocess.TimeoutExpired:
            return None

    def component_pids(self) -> list[int]:
        """The process the component's loop runs in: papermill's kernel, or the process itself."""
        if not self.running:
            return []
        return kernel_pids(self.popen.pid) if self.mode == "notebook" else [self.popen.pid]

    # -- stopping ------------------------------------------------------------------------
    def request_stop(self) -> None:
        if self.stop_requested_at is None and self.running:
            self.stop_file.touch()
            self.stop_requested_at = time.monotonic()

    def signal(self, sig: signal.Signals) -> None:
        """A signal to the component itself (SIGTERM, SIGINT: its loop stops cleanly)."""
        for pid in self.component_pids():
            _signal(pid, sig)

    def kill(self) -> None:
        """kill -9 of the component (no flush, no commit), as a crash would; papermill then
        exits non-zero on its own. Returns once the launched process has exited."""
        pids = self.component_pids()
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        # no kernel yet (papermill still starting it): papermill itself is the component so far
        if self.mode == "python" or not pids or self.wait(60) is None:
            self._kill_launched()

    def terminate(self) -> None:
        """Last resort after a clean stop timed out: SIGTERM the component (a clean stop too), then kill."""
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        if self.wait(15.0) is None:
            self.signal(signal.SIGKILL)
            self._kill_launched()

    def _kill_launched(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
        if self.popen is not None:
            self.popen.wait(30)

    def describe_exit(self) -> str:
        """The exit code, with what it means where that is known."""
        code = self.returncode
        if code is not None and code < 0:
            return f"{code} (killed by {signal.Signals(-code).name})"
        if self.mode == "notebook" and code == PAPERMILL_DEAD_KERNEL:
            return f"{code} (papermill: the kernel died)"
        return str(code)

    # -- what it said ------------------------------------------------------------------------
    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def last_lines(self, n: int = 3) -> str:
        lines = [line.strip() for line in self.output().splitlines() if line.strip()]
        return " | ".join(lines[-n:])

    def failure(self) -> str:
        last = self.last_lines(1)[:300]
        where = f"executed notebook {self.executed}, log {self.log_path}" if self.mode == "notebook" \
            else f"log {self.log_path}"
        return f"component {self.name} failed (exit {self.returncode}); {where}" + (f": {last}" if last else "")


def notebook_parameters(path: Path) -> set[str]:
    """Names assigned in a notebook's `parameters`-tagged cell."""
    import ast

    names: set[str] = set()
    for source in parameters_sources(path):
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def parameters_sources(path: Path) -> list[str]:
    """The source of each `parameters`-tagged cell of a notebook."""
    cells = json.loads(Path(path).read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
