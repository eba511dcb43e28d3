"""The report: report.ipynb executed with papermill, rendered to report.html.

`render_report(config)` (the `kafkalab report` command, `make report`) executes the
notebook on what is under config.results_dir into results/runs/report.ipynb and writes
report.html at the project root: code cells hidden, every figure and the diagram
inlined, no script or stylesheet fetched at view time.

The notebook stays thin: each cell calls one `show_*` function below. A show function
displays a plot with its one-sentence caption, or a note naming the command that
produces the missing data; it never fails because a results file is absent.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

from kafkalab import config as lab_config
from kafkalab.report import architecture as arch
from kafkalab.report import figures as figures
from kafkalab.report import results
from kafkalab.errors import LabError

REPORT_NOTEBOOK = "report.ipynb"
REPORT_HTML = "report.html"
FIGURE_DPI = 100
# Benchmark tables with a section of their own in report.ipynb (any other table goes to 5.8).
DEEP_DIVES = ("deepdive_rebalance_timeline", "deepdive_rebalance", "deepdive_rebalance_events", "deepdive_keys",
              "deepdive_key_map", "deepdive_offsets", "deepdive_compaction", "deepdive_retention_settings")
KNOWN_BENCHES = ("serializers", "producer", "consumer", "generator", "scaling", "scaling_timeline", "replication",
                 "replication_timeline", "pipeline", *DEEP_DIVES)

# report.html must render offline: drop the CDN scripts the stock "lab" template adds
# (require.js, MathJax, Mermaid); the report has no widgets, math or Mermaid blocks.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}<style>
  main { max-width: 1200px; margin: 0 auto; }
  .jp-OutputArea-output img { max-width: 100%; height: auto; }
</style>{% endblock extra_css %}
{# Images with alt text (the caption or a description) instead of nbconvert's placeholder. #}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}" alt="{{ output.metadata.get('alt', 'figure') | escape_html }}">
</div>
{% endblock data_png %}
{% block data_svg scoped %}
<div class="jp-RenderedSVG jp-OutputArea-output {{ extra_class }}" data-mime-type="image/svg+xml">
<img src="data:image/svg+xml;base64,{{ output.data['image/svg+xml'] | text_base64 | escape_html }}" alt="{{ output.metadata.get('alt', 'diagram') | escape_html }}">
</div>
{% endblock data_svg %}
"""


# ---- display helpers (used by the notebook's cells) ------------------------------------------

def _display(obj, alt: str | None = None) -> None:
    from IPython.display import display

    display(obj, metadata={"alt": alt} if alt else None)


def show_markdown(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def show_missing(what: str, command: str, alternative: str | None = None) -> None:
    also = f" (or `{alternative}`)" if alternative else ""
    show_markdown(f"> **Missing:** {what}. Produce it with `{command}`{also}, then run `make report` again.")


def show_figure(fig, caption: str) -> None:
    """The figure as an inline PNG, then its caption."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    _display(Image(data=buffer.getvalue(), format="png"), alt=caption)
    show_markdown(f"*{caption}*")


def _guarded(what: str, plot: Callable[[], tuple]) -> None:
    """Draw one plot; a plot that fails on odd data becomes a note, not a failed report."""
    try:
        fig, caption = plot()
    except Exception as exc:  # noqa: BLE001 - the report must render whatever results/ holds
        show_markdown(f"> **Could not draw {what}:** {type(exc).__name__}: {str(exc)[:200]}")
        return
    show_figure(fig, caption)


# ---- setup ------------------------------------------------------------------------------------

def report_config(results_dir: str = "") -> lab_config.LabConfig:
    """The lab configuration with the notebook's results_dir parameter applied."""
    return lab_config.load(results_dir=results_dir or None)


def load_results(config: lab_config.LabConfig) -> results.Results:
    return results.load_all(config.results_dir)


def _missing_data(what: str) -> None:
    show_missing(what, results.PIPELINE_COMMAND, results.PIPELINE_ALTERNATIVE)


def _data_file(name: str) -> str:
    return f"results/data/{results.PIPELINE_FILES[name]}"


def show_inventory(res: results.Results) -> None:
    """What the report is built from: each results file, its rows and runs."""
    rows = []
    for name in results.STREAMS:
        frame, latest = res.pipeline_all.get(name), res.pipeline.get(name)
        rows.append([arch.code(_data_file(name)),
                     f"{len(frame):,} rows ({len(latest) if latest is not None else 0:,} in the latest run)"
                     if frame is not None else "**missing**: " + arch.code(results.PIPELINE_COMMAND)])
    for name, frame in res.bench_all.items():
        runs = results.run_count(frame)
        last = res.bench[name]["run_at"].iloc[-1] if "run_at" in res.bench[name].columns else "?"
        rows.append([arch.code(f"results/bench/{name}.csv"), f"{len(frame):,} rows from {runs} run(s); latest {last}"])
    if not res.bench_all:
        rows.append([arch.code("results/bench/*.csv"), "**missing**: " + arch.code("make bench")])
    show_markdown(f"Results folder: `{res.results_dir}`\n\n" + arch.md_table(["file", "content"], rows))


# ---- architecture sections ------------------------------------------------------------------

def show_component_diagram(config: lab_config.LabConfig) -> None:
    from IPython.display import SVG

    source = arch.component_diagram_dot(config)
    try:
        _display(SVG(data=arch.diagram_svg(source)), alt="Component diagram: generators, Kafka topics, "
                 "processor, sinks, CSV files and the report, with the data flows between them")
    except arch.DiagramUnavailable as exc:
        show_markdown(f"> **Diagram not rendered:** {exc}.\n\n```dot\n{source}\n```")
        return
    show_markdown("*Component diagram, generated from the code (Graphviz DOT): yellow boxes are processes "
                  "(one papermill notebook each), cylinders are topics with their settings, green notes are "
                  "files. Solid arrows are data flows labelled with the message type and key.*")


def show_components() -> None:
    show_markdown(arch.components_table())


def show_interfaces(config: lab_config.LabConfig) -> None:
    root = config.project_root
    show_markdown("\n\n".join([
        "**Kafka topics and their messages** (one dataclass per message type; JSON, MessagePack or Avro "
        "on the wire):", arch.messages_table(),
        "**Record headers** that tell a consumer how to decode a value, whatever format the producer chose:",
        arch.headers_table(),
        "**CSV files** written by the sinks (column lists defined once in `kafkalab.transports.kafka.sink`):", arch.csv_table(),
        "**Notebook parameters** (papermill overrides them per run; empty means: from the environment):",
        arch.notebook_parameters_table(root),
        f"**Environment variables** (read only in `kafkalab.config`): {arch.env_vars_text()}.",
        "**Command line**:", arch.cli_table(),
    ]))


def show_requirements(config: lab_config.LabConfig, res: results.Results) -> None:
    deps = arch.dependencies(config.project_root)
    machine = _machine(res)
    text = [f"Python packages (from `pyproject.toml`): {', '.join(arch.code(d) for d in deps)}."]
    if machine:
        text.append("The benchmarks were measured on: " + ", ".join(machine) + ".")
    show_markdown("\n\n".join(text))


MACHINE_LABELS = (("machine_cores", "{} cores"), ("machine_mem_gib", "{} GiB memory"), ("machine_cpu", "{}"),
                  ("python", "Python {}"), ("kafka_version", "Kafka {}"), ("confluent_kafka", "confluent-kafka {}"),
                  ("librdkafka", "librdkafka {}"), ("kafka_python", "kafka-python {}"))


def _machine(res: results.Results) -> list[str]:
    """The machine and versions recorded with the newest benchmark row (bench.common.machine_info)."""
    newest = None
    for frame in res.bench.values():
        if "machine_cores" in frame.columns and "run_at" in frame.columns:
            row = frame.iloc[-1]
            if newest is None or str(row["run_at"]) > str(newest["run_at"]):
                newest = row
    if newest is None:
        return []
    return [fmt.format(newest[k]) for k, fmt in MACHINE_LABELS if k in newest.index and pd.notna(newest[k])]


def show_kafka_settings(config: lab_config.LabConfig) -> None:
    from kafkalab.transports.kafka import clients

    show_markdown("\n\n".join([
        "**Topics** (`kafkalab.transports.kafka.topics.TOPICS`, created by `kafkalab topics create` and by the Docker `topics` job):",
        arch.topics_table(),
        "**Producer settings** of every application producer (`kafkalab.transports.kafka.clients.RELIABLE_PRODUCER`):",
        arch.settings_table(clients.RELIABLE_PRODUCER),
        "**Consumer settings** of every application consumer (`kafkalab.transports.kafka.clients.CONSUMER_DEFAULTS`, plus one "
        "`group.id` per component):",
        arch.settings_table(clients.CONSUMER_DEFAULTS),
        "**Processing settings** (event-time windows, the processor's transactions, consumer groups, format):",
        arch.processing_settings_table(),
        "**Broker settings** of the local cluster (the `server.properties` `kafkalab cluster up` writes; node 1 shown):",
        arch.broker_settings_table(config),
    ]))


def show_docker(config: lab_config.LabConfig) -> None:
    compose = arch.load_compose(config.project_root)
    if compose is None:
        show_missing("docker-compose.yml", "git checkout docker-compose.yml")
        return
    env = arch.compose_environment(compose)
    text = [arch.compose_services_table(compose)]
    if env:
        text.append("Environment of every component container: " +
                    ", ".join(f"`{k}={v}`" for k, v in env.items()) + ".")
    show_markdown("\n\n".join(text))


def show_component_runs(res: results.Results) -> None:
    """How the pipeline ran: each component's papermill parameters and duration."""
    runs = results.component_runs(res.results_dir)
    if runs is None:
        _missing_data("results/runs/<component>.ipynb (the executed component notebooks)")
        return
    rows = [[arch.code(r.component), str(r.start_time or "")[:19].replace("T", " "),
             f"{r.duration_s:,.1f} s" if pd.notna(r.duration_s) else "", "**failed**" if r.failed else "ok",
             arch.code(r.parameters) if r.parameters else "defaults"] for r in runs.itertuples()]
    show_markdown("The latest pipeline run, from the executed notebooks in `results/runs/` (papermill parameters; "
                  "unset ones keep the notebook's defaults, see 2.3):\n\n"
                  + arch.md_table(["component", "started (UTC)", "ran for", "result", "parameters"], rows))


# ---- pipeline plots -------------------------------------------------------------------------

def show_prices(res: results.Results) -> None:
    if res.trades is None:
        _missing_data(_data_file("trades"))
        return
    if res.candles is None:
        _missing_data(_data_file("candles") + " (the plot shows trades only)")
    _guarded("prices and candles", lambda: (
        figures.plot_prices_and_candles(res.trades, res.candles),
        figures.caption_prices_and_candles(res.trades, res.candles, res.pipeline_all.get("trades"))))


def show_latency(res: results.Results) -> None:
    missing = [n for n in results.STREAMS if res.pipeline.get(n) is None]
    for name in missing:
        _missing_data(_data_file(name))
    if len(missing) == len(results.STREAMS):
        return
    _guarded("the latency CDF", lambda: (figures.plot_latency_cdf(res.pipeline), figures.caption_latency(res.pipeline)))


def show_rates(res: results.Results) -> None:
    rates = results.message_rates(res.pipeline)
    if rates.empty:
        _missing_data("results/data/*.csv")
        return
    _guarded("message rates", lambda: (figures.plot_message_rates(rates), figures.caption_message_rates(rates)))


# ---- benchmark sections ---------------------------------------------------------------------

def show_bench(res: results.Results, name: str) -> None:
    """One benchmark's section: its plots and captions, or how to produce its table."""
    frame = res.bench.get(name)
    if frame is None:
        show_missing(f"results/bench/{name}.csv", results.bench_command(name),
                     results.BENCH_ALTERNATIVE)
        return
    sections = figures.BENCH_PLOTS.get(name)
    if sections is None:
        show_table(frame)
    for title, plot, caption in sections or ():
        _guarded(title, lambda: (figures.apply(plot, frame, res.bench), figures.apply(caption, frame, res.bench)))
    _show_explanation(name, frame)


def _explainer(name: str):
    """kafkalab.bench.explain's function for this table, if that module has one.

    Looked up as EXPLAINERS[name], then explain_<name>, then <name>; each takes the
    table's latest-run DataFrame and returns Markdown.
    """
    try:
        from kafkalab.bench import explain
    except ImportError:
        return None
    registry = getattr(explain, "EXPLAINERS", {})
    return registry.get(name) or getattr(explain, f"explain_{name}", None) or getattr(explain, name, None)


def _show_explanation(name: str, frame: pd.DataFrame) -> None:
    explain = _explainer(name)
    if not callable(explain):
        return
    try:
        text = explain(frame)
    except Exception as exc:  # noqa: BLE001 - an explanation must not sink the report
        show_markdown(f"> **Could not explain {name}:** {type(exc).__name__}: {str(exc)[:200]}")
        return
    if text:
        show_markdown(str(text))


def show_table(frame: pd.DataFrame, drop_machine: bool = True) -> None:
    """A benchmark table as HTML (machine/version columns left out: they are listed above)."""
    from IPython.display import HTML

    columns = [c for c in frame.columns if not (drop_machine and c in figures.MACHINE_COLUMNS)]
    note = figures._quick_note(frame)
    _display(HTML(frame[columns].to_html(index=False, float_format=lambda v: f"{v:,.4g}", border=0, na_rep="")))
    if note:
        text = note.strip().strip("()")
        show_markdown(f"*{text[0].upper()}{text[1:]}.*")


def show_other_benches(res: results.Results, known: tuple[str, ...]) -> None:
    """Tables under results/bench/ that have no section of their own."""
    others = [n for n in res.bench if n not in known]
    if not others:
        show_markdown("*No other benchmark tables.*")
        return
    for name in others:
        show_markdown(f"**results/bench/{name}.csv** (latest run):")
        show_table(res.bench[name])


# ---- rendering --------------------------------------------------------------------------------

def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"kafkalab_offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="kafkalab_offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def _strip_stderr(notebook) -> None:
    """Warnings printed while executing stay in results/runs/report.ipynb, not in the report."""
    for cell in notebook.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def html_from_notebook(executed: Path) -> str:
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    _strip_stderr(notebook)
    body, _ = _exporter().from_notebook_node(notebook)
    return body


def render_report(config: lab_config.LabConfig, html_path: Path | None = None,
                  echo: Callable[[str], None] = print) -> Path:
    """Execute report.ipynb on config.results_dir and write report.html; returns its path."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = config.project_root / REPORT_NOTEBOOK
    if not source.exists():
        raise LabError(f"{source} not found; run `kafkalab report` from a checkout of the lab")
    executed = config.runs_dir / REPORT_NOTEBOOK
    executed.parent.mkdir(parents=True, exist_ok=True)
    html_path = Path(html_path) if html_path else config.project_root / REPORT_HTML
    echo(f"report: executing {REPORT_NOTEBOOK} on {config.results_dir} ...")
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters={"results_dir": str(config.results_dir)},
            kernel_name="python3", cwd=str(config.project_root), progress_bar=sys.stderr.isatty(),
        )
    except PapermillExecutionError as exc:
        reason = " ".join(str(exc.evalue).split())[:200]
        raise LabError(f"report.ipynb failed in cell {exc.exec_count} ({exc.ename}: {reason}); "
                       f"see {executed}") from None
    except Exception as exc:  # no kernel, kernel died, unreadable notebook: still one line
        reason = " ".join(str(exc).split())[:200]
        raise LabError(f"report.ipynb could not be executed ({type(exc).__name__}: {reason}); "
                       f"is the package installed in this environment (make report)?") from None
    echo(f"report: rendering {html_path.name} ...")
    html_path.write_text(html_from_notebook(executed), encoding="utf-8")
    echo(f"report: wrote {html_path} ({html_path.stat().st_size / 1024:,.0f} KiB)")
    return html_path
