"""The field tables as markdown: docs/session-fields.md is this module's output, never hand-edited.

Regenerate with `python -m realtime_nb.protocol.field_docs > docs/session-fields.md`; a unit test
fails when the committed file and the tables disagree.
"""

from __future__ import annotations

import json
from typing import Any

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.fields import RESPONSE_FIELDS, SESSION_FIELDS, FieldTable
from realtime_nb.protocol.rules import Tools

__all__ = ["fields_markdown", "table_markdown"]


def _default(value: Any, scope: str) -> str:
    if value is None and scope == "response":
        return "the session's"
    return "`" + json.dumps(list(value) if isinstance(value, tuple) else value) + "`"


def _path(table: FieldTable, name: str, dialect: Dialect) -> str:
    path = table.path(name, dialect)
    if path is None:
        return "—"
    parent = table.row(name).parent
    if parent is not None and isinstance(table.row(parent).allowed, Tools):  # fields of each list item
        head = table.path(parent, dialect)
        path = f"{head}[]{path[len(head or '') :]}"
    return f"`{path}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table_markdown(table: FieldTable) -> str:
    """One markdown table of `table`'s rows: name, GA path, preview key, type, default, allowed, doc."""
    lines = [
        f"| Field | GA (under `{table.scope}`) | Preview | Type | Default | Allowed | What it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        cells = [
            f"`{row.name}`",
            _path(table, row.name, Dialect.GA),
            _path(table, row.name, Dialect.PREVIEW),
            f"`{row.type}`",
            _default(row.default, table.scope),
            row.allowed.describe() + (f" (UI {row.ui[0]:g}..{row.ui[1]:g})" if row.ui else ""),
            row.doc,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def fields_markdown() -> str:
    """docs/session-fields.md: the session fields and the response.create options."""
    return (
        "# Session fields and response options\n\n"
        "Generated from `realtime_nb/protocol/fields.py` by `python -m realtime_nb.protocol.field_docs`;"
        " do not edit by hand.\n"
        "Paths are relative to the `session` (or `response`) object; — means the dialect has no such"
        " field. Nested fields (`turn_detection.threshold`) sit under their parent in both dialects.\n\n"
        "## Session (`session.update`, `session.created`, `session.updated`)\n\n"
        + table_markdown(SESSION_FIELDS)
        + "\n## Response options (`response.create`'s `response`)\n\n"
        + table_markdown(RESPONSE_FIELDS)
    )


if __name__ == "__main__":
    print(fields_markdown(), end="")
