"""The report: report.ipynb executed with papermill, rendered to report.html.

`render_report(config)` (the `kafkalab report` command, `make report`) executes the
notebook on what is under config.results_dir into results/runs/report.ipynb and writes
report.html at the project root: code cells hidden, every figure and the diagram
inlined, no script or stylesheet fetched at view time.

The notebook stays thin: a parameters cell, then one call per assignment part into
kafkalab.report.sections. A section displays plots with one-sentence captions, or a note
naming the command that produces missing data; it never fails because a results file is
absent.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

from jupyter_client.manager import KernelManager

from kafkalab import config as lab_config
from kafkalab.errors import LabError

REPORT_NOTEBOOK = "report.ipynb"
REPORT_HTML = "report.html"
GRAPHVIZ_HINT = ("report: Graphviz `dot` not found, the component diagram shows as DOT text; install it with "
                 "`apt-get install -y graphviz` (macOS: `brew install graphviz`)")
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
    if shutil.which("dot") is None:
        echo(GRAPHVIZ_HINT)
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters={"results_dir": str(config.results_dir)},
            kernel_name="python3", cwd=str(config.project_root), progress_bar=sys.stderr.isatty(),
            kernel_manager_class=f"{__name__}.IpcKernelManager",
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


class IpcKernelManager(KernelManager):
    """The report's kernel talks to papermill over Unix sockets, not TCP on 127.0.0.1.

    Over TCP every kernel start prints "[IPKernelApp] WARNING | Kernel is running over
    TCP without encryption"; a local IPC socket has nothing to encrypt.
    """

    def __init__(self, **kwargs):
        import tempfile
        import uuid

        kwargs.setdefault("transport", "ipc")
        # The socket files go to the temporary folder, not into the checkout.
        kwargs.setdefault("ip", str(Path(tempfile.gettempdir()) / f"kafkalab-report-{uuid.uuid4().hex[:8]}"))
        super().__init__(**kwargs)
