"""The report's sections, one module per part of the assignment, in the order they appear.

Each module has a HEADING (its top-level heading in report.html) and `show(config, res)`.
"""

from __future__ import annotations

import importlib

SECTIONS = ("part1", "bonus1", "part2", "part3", "part4", "reflection", "appendix")


def module(name: str):
    if name not in SECTIONS:
        raise KeyError(f"unknown report section {name!r}; sections: {', '.join(SECTIONS)}")
    return importlib.import_module(f"{__name__}.{name}")


def headings() -> list[str]:
    """Every heading a complete report has: the parts, their questions and the subsections they declare."""
    from kafkalab.report import catalog

    out = []
    for name in SECTIONS:
        section = module(name)
        out.append(section.HEADING)
        out += list(getattr(section, "QUESTIONS", ()))
        out += catalog.headings_of(name)
        out += [h for h in (getattr(section, "BONUS_HEADING", None),) if h]
        out += list(getattr(section, "PARTS", {}))
    return out
