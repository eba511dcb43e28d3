"""Start/Stop buttons and live counters for a component in JupyterLab.

The loop runs in a background thread (signal handlers are not installed there: the
kernel keeps its own), so the notebook stays responsive; Stop asks the loop to end
cleanly (flush, commit, close) and the counters keep their final values. Start again
runs a fresh loop (new clients) with the same bounds.

The panel is handed the loop to run (`run`), so this module imports nothing from
kafkalab.runtime.loop, which decides between the panel and a headless run.
"""

from __future__ import annotations

import threading
import traceback
from typing import Callable

import ipywidgets as widgets
from IPython.display import display

REFRESH_S = 0.5


class ComponentPanel:
    def __init__(self, component, run: Callable[[], object]) -> None:
        """`component`: a kafkalab.runtime.loop.Component; `run`: runs its loop to the end."""
        self.component = component
        self.run = run
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.HTML(value=f"<b>{component.name}</b>: idle")
        self.counters = widgets.HTML()
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.box = widgets.VBox([widgets.HBox([self.start_button, self.stop_button, self.status]), self.counters])
        self._refresh()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def show(self) -> None:
        display(self.box)

    def start(self) -> None:
        if self.running:
            return
        self.error = None
        self.component.reset_stop()
        self.thread = threading.Thread(target=self._run, name=f"{self.component.name}-loop", daemon=True)
        self.thread.start()
        threading.Thread(target=self._refresh_while_running, name=f"{self.component.name}-ui", daemon=True).start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Request a clean stop; with a timeout, wait for the loop to end."""
        self.component.stop()
        self.status.value = f"<b>{self.component.name}</b>: stopping..."
        if timeout_s is not None and self.thread is not None:
            self.thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # shown in the panel; the kernel must keep running
            self.error = exc
            traceback.print_exc()

    def _refresh_while_running(self) -> None:
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"<b>{self.component.name}</b>: running"
        while self.running:
            self._refresh()
            self.thread.join(REFRESH_S)
        self._refresh()
        self.start_button.disabled, self.stop_button.disabled = False, True
        if self.error is not None:
            self.status.value = f"<b>{self.component.name}</b>: <span style='color:red'>failed: {self.error}</span>"
        else:
            self.status.value = f"<b>{self.component.name}</b>: stopped after {self.component.elapsed_s:.1f} s"

    def _refresh(self) -> None:
        rows = "".join(f"<tr><td>{name}</td><td style='text-align:right'>{value:,}</td></tr>"
                       for name, value in self.component.counters.snapshot().items())
        self.counters.value = f"<table>{rows}</table>"
