"""The package's layers, read from the source (ast, nothing imported): kafkalab.core imports no
client, notebook or plotting library, and no module takes part in an import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib"
PACKAGE = "kafkalab"
FORBIDDEN_IN_CORE = {"confluent_kafka", "kafka", "pika", "aio_pika", "aiormq", "zmq", "papermill", "matplotlib",
                     "ipywidgets"}
# Cycles that may stay for a while, each with its owner; an entry's strict xfail below turns red the
# day the cycle is gone, so the entry must go with it. Empty: the package has no import cycle.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def modules(root: Path = LIB) -> dict[str, Path]:
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name `path` imports, at any depth (a function-level import counts too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                if node.level else node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def dependency_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package importing its own submodules excluded)."""
    graph = {}
    for name, path in found.items():
        deps = set()
        for imported in imported_names(name, path):
            parts = imported.split(".")
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in found:
                    if candidate != name:
                        deps.add(candidate)
                    break
        graph[name] = {d for d in deps if not d.startswith(name + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_core_imports_no_client_notebook_or_plot_library():
    found = modules()
    core = {name: path for name, path in found.items() if name == f"{PACKAGE}.core" or name.startswith(f"{PACKAGE}.core.")}
    assert {"kafkalab.core.streams", "kafkalab.core.market", "kafkalab.core.pacing", "kafkalab.core.market_logic",
            "kafkalab.core.csvstore", "kafkalab.core.windowing", "kafkalab.core.models"} <= set(core)
    offending = {name: sorted({i.split(".")[0] for i in imported_names(name, path)} & FORBIDDEN_IN_CORE)
                 for name, path in core.items()}
    assert {name: bad for name, bad in offending.items() if bad} == {}
    # and core depends on nothing above it: only core itself, errors and config-free helpers
    graph = dependency_graph(found)
    above = {name: sorted(d for d in deps if not d.startswith(f"{PACKAGE}.core") and d != f"{PACKAGE}.errors")
             for name, deps in graph.items() if name in core}
    assert {name: deps for name, deps in above.items() if deps} == {}


def test_no_import_cycle_beyond_the_known_ones():
    new = cycles(dependency_graph(modules())) - set(KNOWN_CYCLES)
    assert not new, f"import cycles: {[sorted(c) for c in new]}"


@pytest.mark.parametrize("cycle", [pytest.param(c, id=why, marks=pytest.mark.xfail(strict=True, reason=f"known: {why}"))
                                   for c, why in KNOWN_CYCLES.items()])
def test_a_known_cycle_is_gone(cycle):
    assert cycle not in cycles(dependency_graph(modules()))


def test_the_checks_see_a_forbidden_import_and_a_cycle(tmp_path):
    """The walker itself: a function-level client import in core and a two-module cycle are found."""
    core = tmp_path / PACKAGE / "core"
    core.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    (core / "a.py").write_text("def f():\n    import confluent_kafka\n    from kafkalab.core import b\n")
    (core / "b.py").write_text("from . import a\n")
    found = modules(tmp_path)
    assert "confluent_kafka" in imported_names("kafkalab.core.a", found["kafkalab.core.a"])
    assert cycles(dependency_graph(found)) == {frozenset({"kafkalab.core.a", "kafkalab.core.b"})}
