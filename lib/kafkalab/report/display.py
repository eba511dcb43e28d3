"""Showing things in the report: Markdown, figures with captions, tables, notes on missing data.

Used by the section modules while report.ipynb executes (IPython is imported only then).
A plot that fails on odd data becomes a one-line note, never a failed report.
"""

from __future__ import annotations

import io
from typing import Callable

import pandas as pd

from kafkalab.report import catalog
from kafkalab.report.figures.common import MACHINE_COLUMNS, apply, quick_note

FIGURE_DPI = 100


def display(obj, alt: str | None = None) -> None:
    from IPython.display import display as ipython_display

    ipython_display(obj, metadata={"alt": alt} if alt else None)


def show_markdown(text: str) -> None:
    from IPython.display import Markdown

    display(Markdown(text))


def show_missing(what: str, command: str, alternative: str | None = None) -> None:
    also = f" (or `{alternative}`)" if alternative else ""
    show_markdown(f"> **Missing:** {what}. Produce it with `{command}`{also}, then run `make report` again.")


def show_figure(fig, caption: str) -> None:
    """The figure as an inline PNG, then its caption."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    display(Image(data=buffer.getvalue(), format="png"), alt=caption)
    show_markdown(f"*{caption}*")


def guarded(what: str, plot: Callable[[], tuple]) -> None:
    """Draw one plot; a plot that fails on odd data becomes a note, not a failed report."""
    try:
        fig, caption = plot()
    except Exception as exc:  # noqa: BLE001 - the report must render whatever results/ holds
        show_markdown(f"> **Could not draw {what}:** {type(exc).__name__}: {str(exc)[:200]}")
        return
    show_figure(fig, caption)


def show_diagram(dot_source: str, alt: str, caption: str) -> None:
    """A Graphviz diagram as inline SVG with its caption; without Graphviz, its DOT source and why."""
    from IPython.display import SVG

    from kafkalab.report.architecture.diagram import DiagramUnavailable, diagram_svg

    try:
        display(SVG(data=diagram_svg(dot_source)), alt=alt)
    except DiagramUnavailable as exc:
        show_markdown(f"> **Diagram not rendered:** {exc}.\n\n```dot\n{dot_source}\n```")
        return
    show_markdown(f"*{caption}*")


def show_heading(level: int, text: str) -> None:
    show_markdown(f"{'#' * level} {text}")


def show_table(frame: pd.DataFrame, drop_machine: bool = True) -> None:
    """A table as HTML (machine/version columns left out: the appendix lists them once)."""
    from IPython.display import HTML

    columns = [c for c in frame.columns if not (drop_machine and c in MACHINE_COLUMNS)]
    note = quick_note(frame)
    display(HTML(frame[columns].to_html(index=False, float_format=lambda v: f"{v:,.4g}", border=0, na_rep="")))
    if note:
        text = note.strip().strip("()")
        show_markdown(f"*{text[0].upper()}{text[1:]}.*")


def show_plots(table: catalog.BenchTable, frame: pd.DataFrame, bench: dict[str, pd.DataFrame]) -> None:
    """A table's plots with their captions, or the table itself when it has no plot."""
    if not table.plots:
        show_table(frame)
    for plot in table.plots:
        guarded(plot.title, lambda: (apply(plot.draw, frame, bench), apply(plot.caption, frame, bench)))
    show_explanation(table.name, frame)


def show_explanation(name: str, frame: pd.DataFrame) -> None:
    """kafkalab.bench.explain's text for this table (what the numbers mean), if it has one."""
    from kafkalab.bench.explain import EXPLAINERS

    explain = EXPLAINERS.get(name)
    if explain is None:
        return
    try:
        text = explain(frame)
    except Exception as exc:  # noqa: BLE001 - an explanation must not sink the report
        show_markdown(f"> **Could not explain {name}:** {type(exc).__name__}: {str(exc)[:200]}")
        return
    if text:
        show_markdown(str(text))
