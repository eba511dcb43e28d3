"""Bonus 3 in the report: k8s/README.md's own text and a table of the generated manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkalab.deploy import manifests
from kafkalab.report.sections import bonus3

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / bonus3.README).read_text()


def test_the_intro_is_the_readme_text_before_its_first_section_without_the_title():
    intro = bonus3.readme_intro(README)
    assert intro.startswith("The same containers as `docker-compose.yml`")
    assert "**Nothing here has run on a real cluster**" in intro
    assert "# The lab on Kubernetes" not in intro and "## Layout" not in intro


@pytest.mark.parametrize("title", bonus3.README_SECTIONS)
def test_every_section_the_report_shows_is_in_the_readme_and_ends_at_the_next_heading(title):
    body = bonus3.readme_section(README, title)
    assert body and "\n## " not in body and not body.startswith("#")


def test_a_section_the_readme_lacks_is_named_in_the_error():
    with pytest.raises(KeyError, match="no section 'Not there'"):
        bonus3.readme_section(README, "Not there")


def test_the_files_table_counts_every_generated_manifest():
    table = bonus3.generated_files_table(ROOT)
    rows = [line for line in table.splitlines() if line.startswith("| `k8s/")]
    assert sum(int(row.rsplit("|", 2)[1]) for row in rows) == len(manifests.generate(ROOT))
    assert "| `k8s/kafka/` |" in table and "| `k8s/overlays/local/` |" in table
