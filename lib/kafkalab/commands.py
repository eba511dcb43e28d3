"""The `kafkalab` subcommands and what each does, as data.

cli.py builds its parser help from this table (commands that add their own parser, such
as `profile` and `k8s`, keep the same words) and the report lists the commands from it, so
the report never imports the CLI (which imports the report). A test checks that the table
and the parser name the same commands.
"""

from __future__ import annotations

COMMAND_HELP: dict[str, str] = {
    "cluster": "the local 3-node Kafka cluster",
    "rabbitmq": "the local 3-node RabbitMQ cluster",
    "topics": "the application's topics",
    "run": "run the whole pipeline for a bounded time",
    "bench": "run a benchmark experiment into results/bench/ (`all`: every one; `report-set`: what the report needs)",
    "report": "execute report.ipynb on results/ and render report.html",
    "profile": "profile components under cProfile and py-spy into results/profiles/",
    "k8s": "the Kubernetes manifests under k8s/ (generated, checked offline)",
}
