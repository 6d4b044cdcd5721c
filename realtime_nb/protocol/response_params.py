"""`ResponseParams`: the options of one `response.create`, typed and validated once.

The client builds them from keyword options (`response_create`) and the engine reads them from the
wire (`from_wire`); both get the same rules (`fields.RESPONSE_FIELDS`, the session's where a field
is shared) and the same `ConfigError`: code, and `param` spelled as on the dialect's wire, e.g.
`response.max_response_output_tokens` in preview. Every option is optional: None means "use the
session's value".

Values are canonical (the GA vocabulary): `output_modalities=("audio",)`, `output_format="pcm16"`,
`input` items with assistant parts `output_text` / `output_audio`. `temperature` exists only in
preview. `input` items are kept as (copied) dicts: what an item may hold is the conversation's
business, not this object's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass
from typing import Any

from realtime_nb.protocol.checks import check
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError, too_long
from realtime_nb.protocol.fields import RESPONSE_FIELDS, Field
from realtime_nb.protocol.limits import MAX_ITEMS_PER_CONVERSATION, MAX_TOOLS
from realtime_nb.protocol.render import render
from realtime_nb.protocol.rules import Items, Metadata, Modalities, ToolChoice, Tools, Voice
from realtime_nb.protocol.values import (
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    tool_choice_from,
    tool_from_dict,
    voice_wire,
)
from realtime_nb.protocol.wire_reader import collect, read_voice

__all__ = ["ResponseParams"]

_R = RESPONSE_FIELDS


@dataclass(frozen=True)
class ResponseParams:
    """The options of a `response.create`, canonical and validated on construction.

    `dialect` (construction only, not stored) checks what that dialect can express at the same
    time and spells error params as on its wire; without it the values are checked as canonical
    (GA vocabulary, plus preview's `temperature`) and `to_wire` checks the dialect. Options are
    checked in the order declared here (the first bad one is reported).
    """

    instructions: str | None = None
    output_modalities: tuple[str, ...] | None = None
    voice: str | CustomVoice | None = None
    output_format: str | None = None
    tools: tuple[FunctionTool, ...] | None = None
    tool_choice: str | FunctionChoice | None = None
    max_output_tokens: int | str | None = None
    temperature: float | None = None
    conversation: str | None = None
    metadata: Mapping[str, str] | None = None
    input: tuple[dict[str, Any], ...] | None = None
    dialect: InitVar[Dialect | None] = None

    def __post_init__(self, dialect: Dialect | None) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, _normalise(_R.row(f.name), value, dialect))

    def check_dialect(self, dialect: Dialect) -> None:
        """Raise ConfigError if an option cannot be expressed in `dialect` (voice marin in preview,
        temperature in GA), as construction with that `dialect` would."""
        dataclasses.replace(self, dialect=dialect)

    def to_canonical(self) -> dict[str, Any]:
        """The `response` object in the canonical vocabulary: GA, plus preview's `temperature`."""
        return render(_R, self, Dialect.GA, skip_none=True, canonical=True)

    def to_wire(self, dialect: Dialect) -> dict[str, Any]:
        """The `response` object of a `response.create` in `dialect` (empty when nothing is set)."""
        self.check_dialect(dialect)
        return render(_R, self, dialect, skip_none=True)

    @classmethod
    def from_wire(cls, params: Any, dialect: Dialect) -> ResponseParams:
        """Read the `response` object of a client's `response.create` (None: no options).

        Refuses what the service refuses (ConfigError, param spelled for `dialect`): unknown or
        other-dialect keys (`temperature` in GA), bad values. A null `metadata` means none.
        """
        if params is None:
            return cls()
        if not isinstance(params, Mapping):
            raise ConfigError("response", params, "an object", code="invalid_type", param="response")
        options = collect(_R, params, dialect)
        return cls(**options, dialect=dialect)


# --- normalising: rule kind -> (row, value, dialect or None) -> canonical value -----------------------

Normalise = Callable[[Field, Any, "Dialect | None"], Any]


def _spelled(row: Field, check_: Callable[[], Any], dialect: Dialect | None) -> Any:
    """Run `check_`, its errors reported at `row`'s wire path in `dialect` (GA when canonical)."""
    try:
        return check_()
    except ConfigError as err:
        raise err.at(_R.param(err.field, dialect or Dialect.GA)) from None


def _checked(row: Field, value: Any, dialect: Dialect | None) -> Any:
    return _spelled(row, lambda: check(row, value), dialect)


def _modalities(row: Field, value: Any, dialect: Dialect | None) -> Any:
    # ["audio"] is canonical where the preview wire says ["text", "audio"]: the value checked has the
    # canonical shape, but the error names the option as the request's dialect spells it
    # (`response.modalities` in preview), as the engine does, so client and engine agree.
    return _spelled(row, lambda: check(row, value), dialect)


def _voice(row: Field, value: Any, dialect: Dialect | None) -> str | CustomVoice:
    spell = dialect or Dialect.GA
    return read_voice(voice_wire(value), spell, _R.param(row.name, spell))


def _tools(row: Field, value: Any, dialect: Dialect | None) -> tuple[FunctionTool, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(
            row.name,
            value,
            "a list of function tools",
            code="invalid_type",
            param=_R.param(row.name, dialect or Dialect.GA),
        )
    if len(value) > MAX_TOOLS:
        raise too_long(row.name, value, MAX_TOOLS, "tools").at(_R.param(row.name, dialect or Dialect.GA))
    return _spelled(
        row, lambda: tuple(tool_from_dict(t, f"tools[{i}]") for i, t in enumerate(value)), dialect
    )


def _tool_choice(row: Field, value: Any, dialect: Dialect | None) -> str | FunctionChoice:
    return _spelled(row, lambda: tool_choice_from(value, row.name), dialect)


def _metadata(row: Field, value: Any, dialect: Dialect | None) -> dict[str, str]:
    rule = row.allowed
    assert isinstance(rule, Metadata)
    allowed = (
        f"up to {rule.max_pairs} string pairs, keys up to {rule.max_key} characters, "
        f"values up to {rule.max_value}"
    )
    param = _R.param(row.name, Dialect.GA)
    if not isinstance(value, Mapping):
        raise ConfigError(row.name, value, allowed, code="invalid_type", param=param)
    if len(value) > rule.max_pairs:
        raise ConfigError(row.name, len(value), allowed, param=param)
    for key, text in value.items():
        where = f"{param}.{key}" if len(key) <= rule.max_key else param
        if not isinstance(text, str):
            raise ConfigError(row.name, {key: text}, allowed, code="invalid_type", param=where)
        if len(key) > rule.max_key or len(text) > rule.max_value:
            raise ConfigError(row.name, key if len(key) > rule.max_key else text, allowed, param=where)
    return dict(value)


def _items(row: Field, value: Any, dialect: Dialect | None) -> tuple[dict[str, Any], ...]:
    if (
        isinstance(value, (str, bytes, Mapping))
        or not isinstance(value, Sequence)
        or not all(isinstance(item, Mapping) for item in value)
    ):
        raise ConfigError(
            row.name,
            value,
            "a list of items or item references",
            code="invalid_type",
            param=_R.param(row.name, Dialect.GA),
        )
    if len(value) > MAX_ITEMS_PER_CONVERSATION:
        error = too_long(row.name, value, MAX_ITEMS_PER_CONVERSATION, "items")
        raise error.at(_R.param(row.name, Dialect.GA))
    return tuple(dict(item) for item in value)


_NORMALISE: dict[type, Normalise] = {
    Modalities: _modalities,
    Voice: _voice,
    Tools: _tools,
    ToolChoice: _tool_choice,
    Metadata: _metadata,
    Items: _items,
}


def _normalise(row: Field, value: Any, dialect: Dialect | None) -> Any:
    if dialect is not None and _R.path(row.name, dialect) is None:
        other = "preview" if dialect is Dialect.GA else "GA"
        raise ConfigError(
            row.name,
            value,
            f"{row.key} exists only in {other}",
            code="unknown_parameter",
            param=_R.param(row.name, dialect),
        )
    return _NORMALISE.get(type(row.allowed), _checked)(row, value, dialect)
