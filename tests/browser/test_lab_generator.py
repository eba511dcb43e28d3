"""The trade generator notebook in JupyterLab, as a user meets it, in headless Chromium.

Run all cells, Start: the counters rise; Stop: they stop, and so does the topic. Start
again, reload the page and run the cells again: the new panel shows the loop that is
still running (Stop works, Start is not offered), and after its Stop the topic's end
offsets stop growing: no second loop, no loop left without a control.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from kafkalab.transports.kafka import clients
from tests import helpers
from tests.browser.conftest import copy_notebook

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RATE_HZ = 20
WAIT_MS = 180_000  # widget round trips on a loaded machine: generous, every wait is for a condition
QUIET_S = 4.0  # how long the topic must stay unchanged to count as "stopped" (80 records at RATE_HZ)


def end_offsets(bootstrap: str, topic: str) -> int:
    """Sum of the topic's end offsets (every record the generator got acknowledged)."""
    with clients.consumer(bootstrap, "browser-test-watermarks") as consumer:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)


def wait_for(condition, what: str):
    """The shared wait, with the bound and poll step of widget round trips."""
    return helpers.wait_for(condition, WAIT_MS / 1000, what, step_s=0.5)


def quiet(bootstrap: str, topic: str) -> int:
    """Wait until the topic's end offsets stay unchanged for QUIET_S; returns them."""
    def settled():
        before = end_offsets(bootstrap, topic)
        time.sleep(QUIET_S)  # an observation window: nothing may arrive during it
        return [before] if end_offsets(bootstrap, topic) == before else None  # [0] is settled too
    return wait_for(settled, f"{topic} stops growing")[0]


class Notebook:
    """The JupyterLab page of one notebook, driven the way a user does it."""

    def __init__(self, page, url: str) -> None:
        self.page, self.url = page, url

    def open(self) -> None:
        self.page.goto(self.url)
        self.wait_idle()

    def reload(self) -> None:
        self.page.reload()
        self.wait_idle()

    def wait_idle(self) -> None:
        self.page.wait_for_selector(".jp-Notebook", timeout=WAIT_MS)
        self.page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=WAIT_MS)

    def run_all(self) -> None:
        self.page.locator(".jp-Notebook").first.click()
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        self.panel.wait_for(timeout=WAIT_MS)

    @property
    def panel(self):
        return self.page.locator(".kafkalab-panel").first

    def button(self, label: str):
        return self.panel.get_by_role("button", name=label)

    def status(self) -> str:
        return self.panel.locator(".widget-html").first.inner_text()

    def counter(self, name: str) -> int:
        cell = self.panel.locator(f"tr.counter-{name} td").nth(1)
        return int(cell.inner_text().replace(",", ""))

    def wait_status(self, word: str) -> str:
        return wait_for(lambda: word in self.status() and self.status(), f"the panel says {word!r}")


def test_start_stop_and_no_second_loop_after_a_reload(jupyter_lab, browser_page, new_topic, bootstrap, tmp_path):
    topic = new_topic(3)
    name = copy_notebook(ROOT / "notebooks" / "generator_trades.ipynb", jupyter_lab, streams=f"trades={topic}",
                         rate_hz=RATE_HZ, results_dir=str(tmp_path / "results"))
    nb = Notebook(browser_page, jupyter_lab.notebook_url(name))
    nb.open()
    nb.run_all()
    assert "idle" in nb.status()

    nb.button("Start").click()
    nb.wait_status("running")
    first = wait_for(lambda: nb.counter("acked") >= 3 * RATE_HZ and nb.counter("acked"), "acked rises")
    wait_for(lambda: nb.counter("acked") > first, "acked keeps rising")
    nb.button("Stop").click()
    nb.wait_status("stopped after")
    stopped_at = quiet(bootstrap, topic)
    assert stopped_at == nb.counter("acked") == nb.counter("produced")  # what was acked is in the topic
    browser_page.screenshot(path=str(tmp_path / "stopped.png"))

    nb.button("Start").click()  # a second start: counters from zero, together
    nb.wait_status("running")
    wait_for(lambda: end_offsets(bootstrap, topic) > stopped_at + 10, "the topic grows again")
    produced = nb.counter("produced")  # read before the offsets: at most a second in flight beyond them
    assert produced <= end_offsets(bootstrap, topic) - stopped_at + RATE_HZ, "produced counts this start only"

    nb.reload()  # the kernel keeps the loop; the page forgets it
    nb.run_all()
    nb.wait_status("re-attached")
    assert nb.button("Start").is_disabled() and nb.button("Stop").is_enabled()
    browser_page.screenshot(path=str(tmp_path / "reattached.png"))
    nb.button("Stop").click()
    nb.wait_status("stopped after")
    final = quiet(bootstrap, topic)
    assert final == stopped_at + nb.counter("acked")  # one loop produced since the first stop, and it stopped
