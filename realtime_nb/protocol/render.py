"""Rendering canonical values on the wire: one writer per kind of rule, a whole object per table.

`render` walks a field table in order, so an object's keys always come out in the table's order,
nested at the dialect's paths (GA `audio.input.format`, preview `input_audio_format`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.fields import FieldTable
from realtime_nb.protocol.formats import format_to_ga
from realtime_nb.protocol.rules import (
    Format,
    Includes,
    Items,
    Metadata,
    Modalities,
    NoiseReduction,
    ToolChoice,
    Tools,
    TranscriptionObject,
    TurnDetectionObject,
    Voice,
)
from realtime_nb.protocol.values import tool_choice_wire, voice_wire

__all__ = ["render"]

Write = Callable[[Any, Dialect], Any]

# Rule kind -> (canonical value, dialect) -> GA wire value; values of other kinds go as they are.
_WRITE: dict[type, Write] = {
    Modalities: lambda value, dialect: list(value),
    Voice: lambda value, dialect: voice_wire(value),
    Format: lambda value, dialect: format_to_ga(value),
    NoiseReduction: lambda value, dialect: None if value is None else {"type": value},
    TranscriptionObject: lambda value, dialect: None if value is None else value.to_wire(dialect),
    TurnDetectionObject: lambda value, dialect: None if value is None else value.to_wire(dialect),
    Tools: lambda value, dialect: [tool.to_wire() for tool in value],
    ToolChoice: lambda value, dialect: tool_choice_wire(value),
    Metadata: lambda value, dialect: dict(value),
    Items: lambda value, dialect: [dict(item) for item in value],
    Includes: lambda value, dialect: list(value),
}


@functools.cache
def _plan(table: FieldTable, dialect: Dialect, canonical: bool) -> tuple[tuple[Any, ...], ...]:
    """Per top-level field: (name, wire path parts, writer, dialect shape converter or None,
    optional). Worked out once per table and dialect: rendering runs on every session sent."""
    plan = []
    for row in table.top_level():
        path = table.path(row.name, dialect)
        if path is None and canonical:
            path = table.path(row.name, Dialect.PREVIEW)
        if path is None:
            continue
        convert = row.shape.to_preview if dialect is Dialect.PREVIEW else None
        plan.append((row.name, tuple(path.split(".")), _WRITE.get(type(row.allowed)), convert, row.optional))
    return tuple(plan)


def render(
    table: FieldTable,
    obj: object,
    dialect: Dialect,
    *,
    skip_none: bool = False,
    canonical: bool = False,
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The wire object of `dialect` holding `obj`'s top-level fields (attributes named as the rows).

    `skip_none` leaves out fields whose value is None (response options: the session's value);
    optional fields are always left out when None. `canonical` renders GA plus the preview-only
    fields (the canonical vocabulary keeps them). `only`: the names of the fields to render (a
    transcription session's), in the table's order.
    """
    out: dict[str, Any] = {}
    for name, path, write, convert, optional in _plan(table, dialect, canonical):
        if only is not None and name not in only:
            continue
        value = getattr(obj, name)
        if value is None and (skip_none or optional):
            continue
        wire = value if write is None else write(value, dialect)
        if convert is not None:
            wire = convert(wire)
        target = out
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = wire
    return out
