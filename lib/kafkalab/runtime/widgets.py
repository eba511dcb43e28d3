"""Start/Stop buttons and live counters for a component in JupyterLab.

The loop runs in a background thread (signal handlers are not installed there: the
kernel keeps its own), so the notebook stays responsive; Stop asks the loop to end
cleanly (flush, commit, close) and the counters keep their final values. Start again
runs a fresh loop (new clients, counters from zero) with the same bounds.

The panel is handed the loop to run (`run`), so this module imports nothing from
kafkalab.runtime.loop, which decides between the panel and a headless run.

One loop per component per kernel: the kernel outlives the page, so after a reload (or
when the cells are simply run again) a new panel finds the loop that is still running
under that component's name and shows it, with working Stop, instead of offering a
Start that would run a second loop beside it.
"""

from __future__ import annotations

import threading
import traceback
import weakref
from typing import Callable

import ipywidgets as widgets
from IPython.display import display

REFRESH_S = 0.5


class _Run:
    """One start of a component: its loop thread and how it ended."""

    def __init__(self, component, run: Callable[[], object]) -> None:
        self.component = component
        self.run = run
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name=f"{component.name}-loop", daemon=True)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def _loop(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # shown in the panel; the kernel must keep running
            self.error = exc
            traceback.print_exc()


# Component name -> its latest run in this kernel, and the panels showing that name
# (every panel of a name shows the same run; weak, so a panel dropped by the page goes).
_RUNS: dict[str, _Run] = {}
_PANELS: dict[str, weakref.WeakSet] = {}
_REGISTRY_LOCK = threading.Lock()


def running_components() -> list[str]:
    """Names of the components whose loop runs in this kernel right now."""
    with _REGISTRY_LOCK:
        return sorted(name for name, run in _RUNS.items() if run.running)


class ComponentPanel:
    def __init__(self, component, run: Callable[[], object]) -> None:
        """`component`: a kafkalab.runtime.loop.Component; `run`: runs its loop to the end."""
        self.component = component
        self.loop = run
        self.run: _Run | None = None
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.HTML(value=f"<b>{component.name}</b>: idle")
        self.counters = widgets.HTML()
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.box = widgets.VBox([widgets.HBox([self.start_button, self.stop_button, self.status]), self.counters])
        self.box.add_class("kafkalab-panel")
        with _REGISTRY_LOCK:
            _PANELS.setdefault(component.name, weakref.WeakSet()).add(self)
            current = _RUNS.get(component.name)
        if current is not None and current.running:
            self._attach(current, note=" (re-attached to the loop already running in this kernel; "
                                       "Stop, then Start to apply new parameters)")
        else:
            self._refresh()

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    @property
    def error(self) -> BaseException | None:
        return self.run.error if self.run is not None else None

    @property
    def thread(self) -> threading.Thread | None:
        return self.run.thread if self.run is not None else None

    def show(self) -> None:
        display(self.box)

    def start(self) -> None:
        """Start this panel's component, unless a loop of that name already runs: then show that one."""
        name = self.component.name
        with _REGISTRY_LOCK:
            current = _RUNS.get(name)
            if current is None or not current.running:
                # A fresh set of counters per start: produced, acked and failed count the same records.
                self.component.reset_counters()
                self.component.reset_stop()
                current = _RUNS[name] = _Run(self.component, self.loop)
                current.thread.start()
            panels = list(_PANELS.get(name, ()))
        for panel in panels:
            if panel.run is not current:
                panel._attach(current)

    def stop(self, timeout_s: float | None = None) -> None:
        """Request a clean stop of the loop shown; with a timeout, wait for it to end."""
        run = self.run
        if run is None:
            return
        run.component.stop()
        self.status.value = f"<b>{run.component.name}</b>: stopping..."
        if timeout_s is not None:
            run.thread.join(timeout_s)

    def _attach(self, run: _Run, note: str = "") -> None:
        self.run = run
        threading.Thread(target=self._refresh_while_running, args=(run, note),
                         name=f"{run.component.name}-ui", daemon=True).start()

    def _refresh_while_running(self, run: _Run, note: str) -> None:
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"<b>{run.component.name}</b>: running{note}"
        while run.running and self.run is run:
            self._refresh()
            run.thread.join(REFRESH_S)
        if self.run is not run:
            return  # another run took over this panel
        self._refresh()
        self.start_button.disabled, self.stop_button.disabled = False, True
        if run.error is not None:
            self.status.value = f"<b>{run.component.name}</b>: <span style='color:red'>failed: {run.error}</span>"
        else:
            self.status.value = f"<b>{run.component.name}</b>: stopped after {run.component.elapsed_s:.1f} s"

    def _refresh(self) -> None:
        component = self.run.component if self.run is not None else self.component
        rows = "".join(f"<tr class='counter-{name}'><td>{name}</td><td style='text-align:right'>{value:,}</td></tr>"
                       for name, value in component.counters.snapshot().items())
        self.counters.value = f"<table>{rows}</table>"
