"""The report: what report.ipynb calls.

    config, res = setup(results_dir)   # the configuration and everything under results/, read once
    show("part1", config, res)         # one assignment part (see kafkalab.report.sections.SECTIONS)
"""

from __future__ import annotations

from kafkalab import config as lab_config
from kafkalab.report import results, sections


def setup(results_dir: str = "") -> tuple[lab_config.LabConfig, results.Results]:
    """The lab configuration with the notebook's results_dir applied, and the results read once."""
    config = lab_config.load(results_dir=results_dir or None)
    return config, results.load_all(config.results_dir)


def show(section: str, config: lab_config.LabConfig, res: results.Results) -> None:
    sections.module(section).show(config, res)
