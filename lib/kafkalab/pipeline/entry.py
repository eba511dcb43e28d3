"""The one call every component notebook makes.

    run_component(name, transport="kafka", **notebook_parameters)

builds component `name` of `transport` from the notebook's parameters (the names of
kafkalab.runtime.params.ComponentParams, plus `bootstrap_servers` and `interactive`) and
runs it: Start/Stop widgets in JupyterLab, headless to its bound under papermill.

The same entry runs a component without a notebook, for the launcher's "python" mode
(cheaper than a kernel; the benchmarks and tests that kill components use it):

    python -m kafkalab.pipeline.entry <name> '<parameters as JSON>'
"""

from __future__ import annotations

import json
import sys

from kafkalab import config as lab_config
from kafkalab.errors import LabError
from kafkalab.pipeline.plan import build_component
from kafkalab.runtime.loop import run_component as run_loop_for
from kafkalab.runtime.params import ComponentParams


def build(name: str, transport: str = "", bootstrap_servers: str = "", **parameters):
    """(component, params) from notebook-style values ("" and None mean "not given")."""
    params = ComponentParams.from_parameters(**parameters)
    config = lab_config.load(bootstrap_servers=bootstrap_servers, serializer=params.serializer,
                             results_dir=params.results_dir, transport=transport)
    return build_component(config.transport, name, config, params), params


def run_component(name: str, transport: str = "", bootstrap_servers: str = "", interactive: bool | None = None,
                  **parameters):
    """Build and run component `name`; `transport` "" = KAFKALAB_TRANSPORT or kafka.

    interactive None: widgets inside a JupyterLab kernel, headless otherwise (papermill,
    plain Python). Headless returns the final counters and raises on failure (papermill
    then exits non-zero); interactive returns the panel.
    """
    component, params = build(name, transport, bootstrap_servers, **parameters)
    return run_loop_for(component, interactive=interactive, max_seconds=params.max_seconds,
                        max_messages=params.max_messages, stop_file=params.stop_file)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m kafkalab.pipeline.entry <component> '<parameters as JSON>'", file=sys.stderr)
        return 2
    try:
        run_component(args[0], interactive=False, **json.loads(args[1]))
    except LabError as exc:  # one line, as the CLI prints it; the exit code tells the launcher
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
