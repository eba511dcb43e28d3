"""Markdown pieces the report's tables are made of."""

from __future__ import annotations


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; `|` and line breaks inside cells are escaped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: object) -> str:
    return f"`{text}`"
