"""The JupyterLab panel: one loop per component per kernel, counters of one start together (no Kafka)."""

from __future__ import annotations

import threading
import uuid

import pytest

from kafkalab.runtime.loop import Bounds, Component, run_loop
from kafkalab.runtime.widgets import ComponentPanel, running_components
from tests.helpers import wait_for


def panel_for(component: Component, bounds: Bounds = Bounds()) -> ComponentPanel:
    """A panel as the runtime builds it: handed the loop to run."""
    return ComponentPanel(component, lambda: run_loop(component, bounds, progress=None))

WAIT_S = 30.0


class Pair(Component):
    """Counts `produced` at once and `acked` a step later, like a producer and its acknowledgements:
    the acknowledgements are counted by the client, which each start opens afresh."""

    counter_names = ("produced", "acked")
    message_counter = "produced"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.in_flight = self.client_acked = 0

    def setup(self, stack) -> None:
        self.in_flight = self.client_acked = 0

    def step(self) -> None:
        self.client_acked += self.in_flight
        self.counters.set("acked", self.client_acked)
        self.counters.add("produced")
        self.in_flight = 1
        self.wait(0.002)

    def finish(self) -> None:
        self.client_acked += self.in_flight
        self.counters.set("acked", self.client_acked)


def wait_until(condition, what: str) -> None:
    wait_for(condition, WAIT_S, what, step_s=0.01)


@pytest.fixture
def name() -> str:
    return f"pair-{uuid.uuid4().hex[:8]}"


def loop_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"{name}-loop"]


def test_a_new_panel_reattaches_to_the_running_loop_and_stops_it(name):
    first = panel_for(Pair(name))
    first.start()
    wait_until(lambda: first.component.counters["produced"] > 5, "the first loop produces")
    second = panel_for(Pair(name))  # the cells run again, e.g. after a page reload
    assert second.running and second.run is first.run and "re-attached" in second.status.value
    assert second.start_button.disabled and not second.stop_button.disabled
    second.start()  # a Start that reached the kernel anyway must not start a second loop
    assert len(loop_threads(name)) == 1 and running_components().count(name) == 1
    second.stop(timeout_s=WAIT_S)
    assert not first.running and not second.running and loop_threads(name) == []
    wait_until(lambda: "stopped after" in first.status.value and "stopped after" in second.status.value,
               "both panels say the loop stopped")
    assert not first.start_button.disabled and not second.start_button.disabled


def test_start_on_an_old_panel_shows_in_every_panel_of_that_component(name):
    old, new = panel_for(Pair(name)), panel_for(Pair(name))
    old.start()
    wait_until(lambda: new.run is old.run and new.running, "the other panel shows the run")
    new.start()
    assert len(loop_threads(name)) == 1
    old.stop(timeout_s=WAIT_S)
    assert not new.running


def test_counters_of_one_start_belong_together(name):
    panel = panel_for(Pair(name), Bounds(max_messages=40))
    for _ in range(2):  # Start -> (bound) -> Start: the second run counts from zero again
        panel.start()
        panel.run.thread.join(WAIT_S)
        assert not panel.running and panel.error is None
        assert panel.component.counters.snapshot() == {"produced": 40, "acked": 40}
    wait_until(lambda: "<td style='text-align:right'>40</td>" in panel.counters.value, "the panel shows 40")
