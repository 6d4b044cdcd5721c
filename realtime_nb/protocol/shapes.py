"""Values spelled differently by the two dialects, and their lenient converters.

A `Shape` turns a wire value of one dialect into the other's (`to_ga`, `to_preview`). Converters
never validate and never raise: what they do not recognise passes through unchanged, so translation
stays total (validation is `session_reader`'s and `ResponseParams`' business).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime_nb.protocol.formats import format_from_ga, format_to_ga

__all__ = [
    "FORMAT",
    "ITEMS",
    "MODALITIES",
    "SAME",
    "TOOL_CHOICE",
    "Shape",
    "item_to_ga",
    "item_to_preview",
    "items_with",
]

Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Shape:
    """How a field's wire value differs between dialects (`SAME`: it does not)."""

    name: str
    to_ga: Convert = _same
    to_preview: Convert = _same


def _modalities_to_ga(modalities: Any) -> Any:
    # Preview ["text", "audio"] (audio always comes with its transcript) is GA ["audio"].
    if isinstance(modalities, list) and "audio" in modalities:
        return ["audio"]
    return modalities


def _modalities_to_preview(modalities: Any) -> Any:
    if modalities == ["audio"]:
        return ["text", "audio"]
    return modalities


def _tool_choice_to_ga(choice: Any) -> Any:
    # Preview (Azure docs) names a function as {type, function: {name}}; GA as {type, name}.
    if (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("function"), dict)
    ):
        rest = {k: v for k, v in choice.items() if k != "function"}
        return {**rest, "name": choice["function"].get("name")}
    return choice


def _tool_choice_to_preview(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        rest = {k: v for k, v in choice.items() if k != "name"}
        return {**rest, "function": {"name": choice["name"]}}
    return choice


# Assistant content-part types inside items (content-part *events* keep text/audio in both dialects).
_PART_TO_GA = {"text": "output_text", "audio": "output_audio"}
_PART_TO_PREVIEW = {"output_text": "text", "output_audio": "audio"}


def _item_with_parts(item: Any, table: dict[str, str]) -> Any:
    """The item with its content-part types renamed by `table`; the same object if none match."""
    if not isinstance(item, dict):
        return item
    content = item.get("content")
    if not isinstance(content, list):
        return item
    new_content = None
    for i, part in enumerate(content):
        ptype = part.get("type") if isinstance(part, dict) else None
        new_type = table.get(ptype) if isinstance(ptype, str) else None  # any JSON may come here
        if new_type is not None:
            if new_content is None:
                new_content = list(content)
            new_content[i] = {**part, "type": new_type}
    if new_content is None:
        return item
    return {**item, "content": new_content}


def item_to_ga(item: Any) -> Any:
    """A preview item with assistant parts `text`/`audio` renamed `output_text`/`output_audio`."""
    return _item_with_parts(item, _PART_TO_GA)


def item_to_preview(item: Any) -> Any:
    """A GA item with assistant parts `output_text`/`output_audio` renamed `text`/`audio`."""
    return _item_with_parts(item, _PART_TO_PREVIEW)


def items_with(convert: Convert) -> Convert:
    """A list converter applying `convert` to each item; the same list when nothing changed."""

    def convert_items(items: Any) -> Any:
        if not isinstance(items, list):
            return items
        converted = [convert(item) for item in items]
        if all(new is old for new, old in zip(converted, items, strict=True)):
            return items
        return converted

    return convert_items


SAME = Shape("same")
FORMAT = Shape("audio format: name / GA object", format_to_ga, format_from_ga)
MODALITIES = Shape(
    'modalities: GA ["audio"] / preview ["text", "audio"]', _modalities_to_ga, _modalities_to_preview
)
TOOL_CHOICE = Shape(
    "tool_choice: GA {type, name} / preview {type, function: {name}}",
    _tool_choice_to_ga,
    _tool_choice_to_preview,
)
ITEMS = Shape(
    "items: assistant parts output_text / text", items_with(item_to_ga), items_with(item_to_preview)
)
