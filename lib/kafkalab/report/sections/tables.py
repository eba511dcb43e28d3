"""A section's benchmark subsections, as declared in kafkalab.report.catalog."""

from __future__ import annotations

from kafkalab.report import catalog, results
from kafkalab.report.display import show_heading, show_markdown, show_missing, show_plots


def show_table_or_missing(table: catalog.BenchTable, res: results.Results, noted: set[str] | None = None) -> None:
    """The table's plots; else one line on how to measure it (once per experiment in `noted`)."""
    frame = res.bench.get(table.name)
    if frame is None and table.experiment in catalog.NOT_IN_MAKE_RUN:
        if noted is not None and table.experiment in noted:
            return
        if noted is not None:
            noted.add(table.experiment)
        show_markdown(f"*Measured by `make bench`, not by `make run` ({catalog.NOT_IN_MAKE_RUN[table.experiment]}): "
                      f"`{catalog.command_for(table.name)}` adds it here.*")
        return
    if frame is None:
        show_missing(f"results/bench/{table.name}.csv", catalog.command_for(table.name), results.BENCH_ALTERNATIVE)
        return
    show_plots(table, frame, res.bench)


def show_subsections(section: str, res: results.Results, before: dict[str, str] | None = None,
                     after: dict[str, str] | None = None, level: int = 2) -> None:
    """Each subsection of `section`: its heading, the text before, its tables' plots, the text after."""
    noted: set[str] = set()
    for heading in catalog.headings_of(section):
        show_heading(level, heading)
        if (before or {}).get(heading):
            show_markdown(before[heading])
        for table in catalog.tables_of(section):
            if table.heading == heading:
                show_table_or_missing(table, res, noted)
        if (after or {}).get(heading):
            show_markdown(after[heading])
