"""The interfaces between components: messages, headers, CSV files, notebook parameters, CLI, env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kafkalab.commands import COMMAND_HELP
from kafkalab.config import ENV_VARS
from kafkalab.core import models
from kafkalab.report.architecture.components import COMPONENTS, MESSAGE_OF_TOPIC
from kafkalab.report.architecture.names import (
    BOOK_FEATURES_COLUMNS,
    BOOK_FEATURES_CSV,
    CANDLES_COLUMNS,
    CANDLES_CSV,
    TRADES_COLUMNS,
    TRADES_CSV,
    COLUMNS_MODULE,
    csv_path,
)
from kafkalab.report.markdown import code, md_table
from kafkalab.transports.kafka import topics


def messages_table() -> str:
    rows = []
    for topic, cls in MESSAGE_OF_TOPIC.items():
        rows.append([code(topic), f"`{cls.__name__}` ({cls.TYPE})", ", ".join(cls.field_names())])
    rows.append([code(topics.DEAD_LETTERS), "the original record",
                 "original key, value and headers + `dlq.*` headers (reason, component, source topic/partition/offset)"])
    return md_table(["topic", "message (kafkalab.core.models)", "fields"], rows)


def headers_table() -> str:
    from kafkalab.core import serde

    rows = [[code(serde.H_CONTENT_TYPE), ", ".join(code(v) for v in serde.CONTENT_TYPES.values())],
            [code(serde.H_MESSAGE_TYPE), ", ".join(code(t) for t in models.MESSAGE_TYPES)],
            [code(serde.H_SCHEMA_VERSION), code(serde.SCHEMA_VERSION)]]
    return md_table(["record header", "values"], rows)


def csv_table() -> str:
    rows = [[code(csv_path(TRADES_CSV)), ", ".join(TRADES_COLUMNS)],
            [code(csv_path(CANDLES_CSV)), ", ".join(CANDLES_COLUMNS)],
            [code(csv_path(BOOK_FEATURES_CSV)), ", ".join(BOOK_FEATURES_COLUMNS)]]
    return md_table(["file", f"columns ({COLUMNS_MODULE})"], rows)


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str  # the source text of the default value
    meaning: str  # the comment on its line


def notebook_parameters(path: Path) -> list[Parameter]:
    """The assignments of a notebook's `parameters` cell, with their end-of-line comments.

    Parsed with `ast` rather than papermill's inspector, which skips lines whose comment
    holds quotes.
    """
    import ast

    import nbformat

    notebook = nbformat.read(path, as_version=4)
    cell = next((c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return []
    source = cell.source
    lines = source.splitlines()
    params = []
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if not isinstance(target, ast.Name) or getattr(node, "value", None) is None:
            continue
        rest = lines[node.end_lineno - 1][node.end_col_offset:]
        meaning = rest.split("#", 1)[1].strip() if "#" in rest else ""
        params.append(Parameter(target.id, ast.get_source_segment(source, node.value) or "", meaning))
    return params


def notebook_parameters_table(project_root: Path) -> str:
    """Parameters shared by every component notebook once, then each notebook's own."""
    found = {c.notebook: notebook_parameters(project_root / c.notebook)
             for c in COMPONENTS if (project_root / c.notebook).exists()}
    if not found:
        return "*(no component notebooks found under notebooks/)*"
    names = [{p.name for p in params} for params in found.values()]
    shared = set.intersection(*names) if names else set()
    first = next(iter(found.values()))
    rows = [["all notebooks", code(p.name), code(p.default), p.meaning] for p in first if p.name in shared]
    for notebook, params in found.items():
        rows += [[code(Path(notebook).name), code(p.name), code(p.default), p.meaning]
                 for p in params if p.name not in shared]
    missing = [c.notebook for c in COMPONENTS if c.notebook not in found]
    table = md_table(["notebook", "parameter", "default", "meaning"], rows)
    return table + (f"\n\n*Not found: {', '.join(map(code, missing))}.*" if missing else "")


def cli_table() -> str:
    return md_table(["command", "what it does"], [[code(f"kafkalab {name}"), text] for name, text in COMMAND_HELP.items()])


def env_vars_text() -> str:
    return ", ".join(code(v) for v in ENV_VARS)
