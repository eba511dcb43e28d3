"""Appendix: reference material after the results: settings, parameters, commands, compose, raw tables."""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.report import catalog, results
from kafkalab.report.architecture import docker, interfaces, settings
from kafkalab.report.display import show_heading, show_markdown, show_missing, show_table
from kafkalab.report.markdown import code, md_table

HEADING = "Appendix"
REPRODUCE = """\
- `make run`: starts the local cluster if none answers, runs the pipeline for a bounded time
  (`results/data/`), runs the report's bounded experiment set (`kafkalab bench report-set`,
  `results/bench/`), renders this report, and stops what it started;
- `make bench` (or `kafkalab bench <experiment>`): the full benchmark grid into `results/bench/`;
- `make report`: re-renders `report.html` from whatever is in `results/`.
"""


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown("Reference material behind the answers above, read from the code and the results folder.")
    show_heading(2, "What this report is built from")
    show_inventory(res)
    show_heading(2, "Reproducing this report")
    show_markdown(REPRODUCE)
    show_heading(2, "Kafka settings")
    show_kafka_settings(config)
    show_heading(2, "Notebook parameters, environment variables and the command line")
    show_markdown("\n\n".join([
        "**Notebook parameters** (papermill overrides them per run; empty means: from the environment):",
        interfaces.notebook_parameters_table(config.project_root),
        f"**Environment variables** (read only in `kafkalab.config`): {interfaces.env_vars_text()}.",
        "**Command line**:", interfaces.cli_table()]))
    show_heading(2, "Docker services")
    show_docker(config)
    show_heading(2, "Other benchmark tables")
    show_other_benches(res)


def show_inventory(res: results.Results) -> None:
    """Each results file, its rows and runs."""
    rows = []
    for name in results.STREAMS:
        frame, shown = res.pipeline_all.get(name), res.pipeline.get(name)
        rows.append([code(f"results/data/{results.PIPELINE_FILES[name]}"),
                     f"{len(frame):,} rows ({len(shown) if shown is not None else 0:,} in the run shown)"
                     if frame is not None else "**missing**: " + code(results.PIPELINE_COMMAND)])
    for name, frame in res.bench_all.items():
        last = res.bench[name]["run_at"].iloc[-1] if "run_at" in res.bench[name].columns else "?"
        rows.append([code(f"results/bench/{name}.csv"),
                     f"{len(frame):,} rows from {results.run_count(frame)} run(s); latest {last}"])
    if not res.bench_all:
        rows.append([code("results/bench/*.csv"), "**missing**: " + code("make bench")])
    if res.profiles is not None:
        rows.append([code("results/profiles/summary.csv"), f"{len(res.profiles):,} rows (latest run)"])
    machine = settings.machine_of(res.bench)
    text = f"Results folder: `{res.results_dir}`\n\n" + md_table(["file", "content"], rows)
    if machine:
        text += "\n\nMeasured on: " + ", ".join(machine) + "."
    show_markdown(text)


def show_kafka_settings(config: LabConfig) -> None:
    from kafkalab.transports.kafka import clients

    show_markdown("\n\n".join([
        "**Producer settings** of every application producer (`kafkalab.transports.kafka.clients.RELIABLE_PRODUCER`):",
        settings.settings_table(clients.RELIABLE_PRODUCER),
        "**Consumer settings** of every application consumer (`kafkalab.transports.kafka.clients.CONSUMER_DEFAULTS`, "
        "plus one `group.id` per component):",
        settings.settings_table(clients.CONSUMER_DEFAULTS),
        "**Processing settings** (event-time windows, the processor's transactions, consumer groups, format):",
        settings.processing_settings_table(config.project_root),
        "**Broker settings** of the local cluster (the `server.properties` `kafkalab cluster up` writes; node 1 shown):",
        settings.broker_settings_table(config),
    ]))


def show_docker(config: LabConfig) -> None:
    compose = docker.load_compose(config.project_root)
    if compose is None:
        show_missing("docker-compose.yml", "git checkout docker-compose.yml")
        return
    env = docker.compose_environment(compose)
    text = [docker.compose_services_table(compose)]
    if env:
        text.append("Environment of every component container: " + ", ".join(f"`{k}={v}`" for k, v in env.items()) + ".")
    show_markdown("\n\n".join(text))


def show_other_benches(res: results.Results) -> None:
    """Tables under results/bench/ without a line in kafkalab.report.catalog."""
    others = [n for n in res.bench if n not in catalog.BY_NAME and n != "profile_experiments"]
    if not others:
        show_markdown("*No other benchmark tables.*")
        return
    for name in others:
        show_markdown(f"**results/bench/{name}.csv** (latest run):")
        show_table(res.bench[name])
