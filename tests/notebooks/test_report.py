"""report.ipynb -> report.html: from an empty results folder, from a real pipeline run, in a browser.

- Empty results/: the report still executes and renders, with every part's heading and a
  "Missing" note naming the command for each absent file.
- A short real pipeline run (all five component notebooks under papermill against the test
  cluster, own topics and groups, own results folder), plus the Part 3 and Part 4 tables
  built from the columns their contracts document: every part's heading, a figure under
  every plot heading, no heading without content, no "Missing" box where data exists.
- Headless Chromium (Debian package `chromium`) screenshots report.html: a PNG that is not
  blank, at the diagram and at the plots.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pytest
from bs4 import BeautifulSoup

from kafkalab import config as lab_config
from kafkalab.report import catalog, sections
from kafkalab.report.render import render_report

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "report.ipynb"
PIPELINE_SECONDS = 15.0
# Headings whose section must hold a figure once the pipeline (and the Part 3/4 tables) exist.
PLOT_HEADINGS = ("Component diagram", "Trade prices and candles per symbol", "End-to-end latency per stream",
                 "Message rates over time per component", "Measured: Kafka vs RabbitMQ vs ZeroMQ",
                 "Loop time per component")


def notebook_headings() -> list[str]:
    """Every heading the report must have: report.ipynb's own and those of every section."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    heads = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads += [m.group(1).strip() for m in re.finditer(r"^#{1,4}\s+(.+)$", cell.source, re.MULTILINE)]
    return heads + sections.headings()


def _text(tag) -> str:
    return tag.get_text(" ", strip=True).replace("¶", "").strip()


def html_sections(html: str) -> dict[str, list]:
    """Heading text -> the elements up to the next heading (in document order)."""
    soup = BeautifulSoup(html, "html.parser")
    sections: dict[str, list] = {}
    current = None
    for element in soup.find_all(["h1", "h2", "h3", "h4", "img", "svg", "blockquote", "p", "table", "li", "pre"]):
        if element.name in ("h1", "h2", "h3", "h4"):
            current = _text(element)
            sections[current] = []
        elif current is not None:
            sections[current].append(element)
    return sections


def _render(results_dir: Path, html_path: Path) -> str:
    config = lab_config.load(results_dir=str(results_dir))
    out = render_report(config, html_path=html_path, echo=lambda line: print(line))
    assert out == html_path and html_path.exists()
    assert (results_dir / "runs" / "report.ipynb").exists()
    return html_path.read_text(encoding="utf-8")


def _assert_well_formed(html: str) -> None:
    headings = set(html_sections(html))
    missing = [h for h in notebook_headings() if h not in headings]
    assert not missing, f"headings not in report.html: {missing}"
    # Offline: nothing is fetched when the page is viewed.
    assert not re.search(r"<script[^>]+src=\"?https?:", html), "report.html loads a script from the network"
    assert not re.search(r"<link[^>]+href=\"?https?:", html), "report.html loads a stylesheet from the network"
    # No failed cell, no plot that could not be drawn, no code shown.
    assert "Traceback" not in html and "Could not draw" not in html and "Could not explain" not in html
    assert "R.show_" not in html and "report_config(" not in html


@pytest.mark.timeout(300)
def test_report_renders_from_an_empty_results_folder(tmp_path):
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    html = _render(results_dir, tmp_path / "report.html")
    _assert_well_formed(html)
    sections = html_sections(html)
    notes = [_text(q) for elements in sections.values() for q in elements if q.name == "blockquote"]
    assert any("results/data/trades.csv" in n and "make run" in n for n in notes), notes
    for table in catalog.TABLES:  # each benchmark table: where it goes and which command writes it
        if table.experiment in catalog.NOT_IN_MAKE_RUN:  # not a gap of `make run`: one line says how to measure it
            text = re.sub(r"<[^>]+>", "", html)
            assert f"not by make run ({catalog.NOT_IN_MAKE_RUN[table.experiment]})" in text, table.name
            assert f"{catalog.command_for(table.name)} adds it here" in text, table.name
            continue
        assert any(f"results/bench/{table.name}.csv" in n and catalog.command_for(table.name) in n
                   for n in notes), table.name
    assert any("results/profiles/summary.csv" in n and "kafkalab profile" in n for n in notes)
    # The architecture does not depend on results: the diagram is drawn (Graphviz `dot`).
    assert any(e.name in ("img", "svg") for e in sections["Component diagram"]), \
        "no component diagram: is Graphviz installed (apt-get install graphviz)?"
    # Settings are read from the code: the topic table names every declared topic.
    from kafkalab.transports.kafka.topics import TOPICS

    assert all(f"<code>{t.name}</code>" in html for t in TOPICS)


@pytest.mark.timeout(180)
def test_a_failing_cell_is_one_line_error_and_no_html(tmp_path):
    from dataclasses import replace

    from nbformat.v4 import new_code_cell, new_notebook

    from kafkalab.errors import LabError

    root = tmp_path / "lab"
    root.mkdir()
    notebook = new_notebook(cells=[new_code_cell('results_dir = ""', metadata={"tags": ["parameters"]}),
                                   new_code_cell('raise ValueError("the data is odd")')],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, root / "report.ipynb")
    config = replace(lab_config.load(results_dir=str(tmp_path / "results")), project_root=root)
    with pytest.raises(LabError) as err:
        render_report(config, echo=lambda _: None)
    message = str(err.value)
    assert "\n" not in message and "ValueError: the data is odd" in message
    assert str(config.runs_dir / "report.ipynb") in message
    assert not (root / "report.html").exists()


# ---- from a real pipeline run ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline_results(kafka_cluster, tmp_path_factory) -> Path:
    """A short run of the real pipeline (own topics, groups, results folder)."""
    from kafkalab.transports.kafka.clients import delete_topics
    from kafkalab.pipeline.plan import private_plan
    from kafkalab.pipeline.runner import run_plan

    plan = private_plan(f"report-{uuid.uuid4().hex[:8]}", PIPELINE_SECONDS)
    results_dir = tmp_path_factory.mktemp("report-results")
    config = lab_config.load(bootstrap_servers=kafka_cluster.bootstrap_servers, results_dir=str(results_dir))
    try:
        code = run_plan(config, plan, echo=print, show_progress=False)
        assert code == 0
    finally:
        try:
            delete_topics(kafka_cluster.bootstrap_servers, list(plan.shared_params.streams.values()))
        except Exception:  # a failed run must show its own error, not the clean-up's
            pass
    for csv in ("trades.csv", "candles.csv", "book_features.csv"):
        assert (results_dir / "data" / csv).stat().st_size > 0, f"the pipeline wrote no {csv}"
    return results_dir


def write_contract_tables(results_dir: Path) -> None:
    """Part 3's and Part 4's tables, built from the columns their contracts document."""
    from unit.report.test_report_figures import _profile_summary, _transports

    (results_dir / "bench").mkdir(exist_ok=True)
    _transports().to_csv(results_dir / "bench" / "transports.csv", index=False)
    (results_dir / "profiles").mkdir(exist_ok=True)
    _profile_summary().to_csv(results_dir / "profiles" / "summary.csv", index=False)


@pytest.fixture(scope="module")
def pipeline_report(pipeline_results, tmp_path_factory) -> Path:
    write_contract_tables(pipeline_results)
    html_path = tmp_path_factory.mktemp("report-html") / "report.html"
    _render(pipeline_results, html_path)
    return html_path


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_report_from_a_real_pipeline_run_has_every_section_and_plot(pipeline_report):
    html = pipeline_report.read_text(encoding="utf-8")
    _assert_well_formed(html)
    sections = html_sections(html)
    for heading in PLOT_HEADINGS:
        key = next(h for h in sections if heading in h)
        figures = [e for e in sections[key] if e.name in ("img", "svg")]
        notes = [_text(e) for e in sections[key] if e.name == "blockquote"]
        assert figures, f"no figure under {key!r}; notes: {notes}"
        assert not any(n.startswith("Missing") for n in notes), notes
    # No placeholder: every heading is followed by something (text, a table, a figure) before the next one.
    empty = [h for h, elements in sections.items() if not elements]
    assert not empty, f"headings without content: {empty}"
    text = BeautifulSoup(html, "html.parser").get_text(" ")
    # The data exists, so nothing in Part 1, 3 or 4 may say it is missing; the run shown is the real run.
    part1 = text[text.index("Part 1: Kafka cluster"):text.index("Bonus 1: serializers")]
    assert "Missing" not in part1 and "Note on the run shown" not in part1
    # Captions carry numbers computed from the run: candles honestly from their window's end and the processor.
    assert re.search(r"trades from generator p50 [\d.,]+ ms, p99 [\d.,]+ ms", text)
    assert re.search(r"candles from window end p50 [\d.,]+ ms", text) and re.search(r"candles from processor p50", text)


# ---- in a browser ------------------------------------------------------------------------------

def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium not found; install it (Debian: apt-get install -y chromium)")


def screenshot(html_path: Path, png: Path, size: str = "1280,16000") -> Path:
    """Render report.html in headless Chromium and save a PNG of a tall viewport.

    One tall viewport rather than anchors: with `--screenshot`, a page scrolled to an
    anchor is captured before its images are painted (blank), a tall one is not.
    """
    profile = png.parent / f"chromium-profile-{uuid.uuid4().hex[:6]}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
           html_path.resolve().as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert png.exists(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}"
    return png


def _pixels(png: Path) -> np.ndarray:
    """The screenshot as 8-bit RGB, every second row and column: text and lines are thicker than
    that, and a quarter of the pixels keeps the check fast on a loaded machine."""
    from PIL import Image

    with Image.open(png) as image:
        return np.asarray(image.convert("RGB"))[::2, ::2]


def content_bands(png: Path, band_px: int = 1600, pixels: np.ndarray | None = None) -> list[float]:
    """Share of non-background pixels in each horizontal band (of the full-size page) down to the end
    of the content."""
    pixels = _pixels(png) if pixels is None else pixels
    background = np.median(pixels.reshape(-1, 3), axis=0)
    ink = (np.abs(pixels.astype(np.int16) - background.astype(np.int16)).max(axis=2) > 25)
    rows = np.flatnonzero(ink.any(axis=1))
    assert len(rows), f"{png} is blank"
    end, band = rows[-1] + 1, band_px // 2  # the last band ends with the content, not with the viewport
    return [float(ink[top:min(top + band, end)].mean()) for top in range(0, end, band)]


def assert_not_blank(png: Path) -> list[float]:
    pixels = _pixels(png)
    bands = content_bands(png, pixels=pixels)
    # Text, tables, the diagram and plots all the way down: no empty stretch of a screen height.
    assert min(bands) > 0.01, f"{png}: a blank stretch (share of ink per 1600 px band: {bands})"
    # Content, not one flat colour: dozens of distinct colours (text, lines, plot colours).
    distinct = np.unique(pixels.reshape(-1, 3)[::97], axis=0)
    assert len(distinct) > 50, f"{png} has only {len(distinct)} colours"
    return bands


@pytest.mark.slow
@pytest.mark.timeout(900)  # chromium and the pixel check on a machine shared by many: a generous bound
def test_report_html_shows_the_diagram_and_plots_in_a_browser(pipeline_report, tmp_path):
    png = screenshot(pipeline_report, tmp_path / "report.png")
    bands = assert_not_blank(png)
    # The screenshot reaches the plots: more than the first few screens hold content.
    assert len(bands) >= 6, "the page ends before the plots"
    print(f"screenshot: {png}")
