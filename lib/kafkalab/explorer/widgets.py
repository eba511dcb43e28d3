"""The cluster explorer in JupyterLab: tabs of tables that refresh themselves, and a message browser.

One refresher per kernel: showing a new explorer (the cell run again) stops the previous
one's refresh thread, so re-running the cell never multiplies the requests to the cluster.
Under papermill (no Jupyter server) `show_explorer` prints every table once instead.
"""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from kafkalab import config as lab_config
from kafkalab.config import LabConfig
from kafkalab.explorer import cluster_view

_active: "ClusterExplorer | None" = None
_active_lock = threading.Lock()


def snapshot(bootstrap: str) -> dict[str, pd.DataFrame]:
    """Every overview table, asked for once (partitions feed the topic summary)."""
    parts = cluster_view.partitions(bootstrap)
    return {"Brokers": cluster_view.brokers(bootstrap), "Topics": cluster_view.topics(bootstrap, parts),
            "Partitions": parts, "Consumer groups": cluster_view.consumer_groups(bootstrap)}


def _html(table: pd.DataFrame) -> str:
    return table.to_html(index=False, border=0, na_rep="-") if len(table) else "<i>none</i>"


class ClusterExplorer:
    def __init__(self, config: LabConfig, refresh_s: float = 5.0) -> None:
        self.bootstrap = config.bootstrap_servers
        self.refresh_s = refresh_s
        self._stop = threading.Event()
        self.status = widgets.HTML()
        self.pages = {name: widgets.HTML() for name in ("Brokers", "Topics", "Partitions", "Consumer groups")}
        self.auto = widgets.Checkbox(value=True, description=f"refresh every {refresh_s:g} s")
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.browser = MessageBrowser(self.bootstrap)
        tabs = widgets.Tab(children=[*self.pages.values(), self.browser.box])
        for i, title in enumerate([*self.pages, "Messages"]):
            tabs.set_title(i, title)
        self.box = widgets.VBox([widgets.HBox([refresh, self.auto, self.status]), tabs])
        self.box.add_class("kafkalab-explorer")

    def refresh(self) -> None:
        try:
            tables = snapshot(self.bootstrap)
        except Exception as exc:  # noqa: BLE001 - a broker down must not end the view
            self.status.value = f"<span style='color:red'>{time.strftime('%H:%M:%S')}: {exc}</span>"
            return
        for name, table in tables.items():
            self.pages[name].value = _html(table)
        self.browser.offer_topics(sorted(tables["Topics"]["topic"]) if len(tables["Topics"]) else [])
        under = int(tables["Topics"]["under_replicated"].sum()) if len(tables["Topics"]) else 0
        self.status.value = (f"{time.strftime('%H:%M:%S')}: {len(tables['Brokers'])} brokers, "
                             f"{len(tables['Topics'])} topics, {under} under-replicated partitions")

    def show(self) -> None:
        global _active
        with _active_lock:
            if _active is not None:
                _active.close()
            _active = self
        self.refresh()
        display(self.box)
        threading.Thread(target=self._refresh_loop, name="kafkalab-explorer", daemon=True).start()

    def close(self) -> None:
        self._stop.set()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            if self.auto.value:
                self.refresh()


class MessageBrowser:
    """Pick a topic and partition, see its latest records decoded from their headers."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.topic = widgets.Dropdown(description="topic", options=[])
        self.partition = widgets.BoundedIntText(description="partition", value=0, min=0, max=10_000)
        self.count = widgets.BoundedIntText(description="last", value=10, min=1, max=500)
        load = widgets.Button(description="Show", icon="search")
        load.on_click(lambda _b: self.load())
        self.table = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox([self.topic, self.partition, self.count, load]), self.table])

    def offer_topics(self, names: list[str]) -> None:
        if list(self.topic.options) != names:
            self.topic.options = names

    def load(self) -> None:
        if not self.topic.value:
            self.table.value = "<i>choose a topic</i>"
            return
        try:
            records = cluster_view.latest_records(self.bootstrap, self.topic.value, self.partition.value,
                                                  self.count.value)
        except Exception as exc:  # noqa: BLE001 - shown where the table would be
            self.table.value = f"<span style='color:red'>{exc}</span>"
            return
        self.table.value = _html(records)


def show_explorer(config: LabConfig, refresh_s: float = 5.0, interactive: bool | None = None,
                  browse: tuple[str, int, int] | None = None) -> None:
    """The notebook's one call: the live explorer in JupyterLab; printed tables under papermill.

    `browse` = (topic, partition, count) also shows that partition's latest records.
    """
    if interactive is None:
        interactive = lab_config.in_jupyter_server()
    if interactive:
        explorer = ClusterExplorer(config, refresh_s)
        if browse:
            explorer.browser.offer_topics([browse[0]])
            explorer.browser.topic.value, explorer.browser.partition.value, explorer.browser.count.value = browse
        explorer.show()
        if browse:
            explorer.browser.load()
        return
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 80):
        for name, table in snapshot(config.bootstrap_servers).items():
            print(f"== {name} ==\n{table.to_string(index=False) if len(table) else '(none)'}\n")
        if browse:
            print(f"== Latest records of {browse[0]} partition {browse[1]} ==")
            print(cluster_view.latest_records(config.bootstrap_servers, *browse).to_string(index=False))
