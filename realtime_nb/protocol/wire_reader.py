"""Reading a wire object of either dialect (a session, response.create's options) into canonical
field values.

The walk follows the object's field table (`fields`): a key is found by its wire path in the
dialect at hand, its value read by the reader of the field's kind of rule, and anything else is an
unknown parameter (with a hint when it is the other dialect's spelling) unless the SDKs are known
to send it. Errors name the key as the peer spelled it (`session.audio.input.turn_detection.type`).

`lenient` reading (what a peer reports about its session) skips keys newer than this package
instead of refusing them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from realtime_nb.protocol.checks import check, is_int
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError, too_long, unknown
from realtime_nb.protocol.fields import SERVER_ONLY_SESSION_KEYS, SESSION_FIELDS, VOICES, Field, FieldTable
from realtime_nb.protocol.formats import AUDIO_FORMATS, GA_FORMATS, PCM_RATE, ga_format_name
from realtime_nb.protocol.limits import MAX_TOOLS
from realtime_nb.protocol.passthrough import check_passthrough
from realtime_nb.protocol.rules import (
    Fixed,
    Format,
    Items,
    Metadata,
    Modalities,
    NoiseReduction,
    Number,
    ToolChoice,
    Tools,
    TranscriptionObject,
    TurnDetectionObject,
    Voice,
)
from realtime_nb.protocol.shapes import item_to_ga, items_with
from realtime_nb.protocol.values import (
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    tool_choice_from,
    tool_from_dict,
    transcription_from,
    turn_detection_from,
)

__all__ = [
    "collect",
    "read_format",
    "read_modalities",
    "read_tool_choice",
    "read_tools",
    "read_voice",
]

_F = SESSION_FIELDS

# --- readers of one value (value, dialect, param, lenient) -> canonical value -----------------------

Reader = Callable[[Any, Dialect, str, bool], Any]


def _format_from_ga_wire(raw: Any, param: str, *, lenient: bool = False) -> str:
    allowed = f"{{type: 'audio/pcm', rate: {PCM_RATE}}}, {{type: 'audio/pcmu'}} or {{type: 'audio/pcma'}}"
    if not isinstance(raw, Mapping):
        raise ConfigError("format", raw, allowed, code="invalid_type", param=param)
    kind = raw.get("type")
    if "type" not in raw:
        raise ConfigError("format", None, allowed, code="missing_required_parameter", param=f"{param}.type")
    short = ga_format_name(kind)
    if short is None:
        raise ConfigError("format", kind, allowed, param=f"{param}.type")
    for key, value in raw.items():
        if key == "rate" and "rate" in GA_FORMATS[short]:
            if value != PCM_RATE or not is_int(value):
                raise ConfigError("format", value, f"{PCM_RATE} (the only PCM rate)", param=f"{param}.rate")
        elif key != "type" and not lenient:
            raise unknown(key, value, f"{param}.{key}", "a format object takes type (and rate for audio/pcm)")
    return short


def _format_from_preview_wire(raw: Any, param: str) -> str:
    allowed = "one of " + ", ".join(AUDIO_FORMATS)
    if not isinstance(raw, str):
        raise ConfigError("format", raw, allowed, code="invalid_type", param=param)
    if raw not in AUDIO_FORMATS:
        raise ConfigError("format", raw, allowed, param=param)
    return raw


def read_format(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> str:
    """A format name from a GA format object or a preview format name."""
    if dialect is Dialect.GA:
        return _format_from_ga_wire(raw, param, lenient=lenient)
    return _format_from_preview_wire(raw, param)


def _read_noise_reduction(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> str | None:
    rule = _F.row("noise_reduction").allowed
    assert isinstance(rule, NoiseReduction)
    kinds = [v for v in rule.values if v is not None]
    allowed = ", ".join(f"{{type: '{kind}'}}" for kind in kinds) + " or null"
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError("noise_reduction", raw, allowed, code="invalid_type", param=param)
    if "type" not in raw:
        raise ConfigError(
            "noise_reduction.type", None, allowed, code="missing_required_parameter", param=f"{param}.type"
        )
    ignored = _F.unmodelled(dialect, "noise_reduction")  # GA's later `strength`: sent by the SDK
    for key, value in raw.items():
        if key in ignored and not lenient:
            check_passthrough("noise_reduction", key, value, f"{param}.{key}")
        elif key != "type" and key not in ignored and not lenient:
            raise unknown(key, value, f"{param}.{key}", "noise reduction takes type")
    kind = raw["type"]
    if kind not in kinds:
        raise ConfigError(
            "noise_reduction.type", kind, " or ".join(f"'{k}'" for k in kinds), param=f"{param}.type"
        )
    return kind


def read_voice(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> str | CustomVoice:
    """A voice of `dialect`: a name, or (GA) a custom voice `{id}`."""
    voices = VOICES[dialect]
    if isinstance(raw, Mapping) and dialect is Dialect.GA:
        if set(raw) != {"id"} or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise ConfigError("voice", dict(raw), "a custom voice is {id: 'voice_...'}", param=param)
        try:
            return CustomVoice(raw["id"])
        except ConfigError as err:
            raise err.at(f"{param}.id") from None
    allowed = "one of " + ", ".join(voices) + (" or {id: ...}" if dialect is Dialect.GA else "")
    if not isinstance(raw, str):
        raise ConfigError("voice", raw, allowed, code="invalid_type", param=param)
    if raw not in voices:
        raise ConfigError("voice", raw, allowed, param=param)
    return raw


def read_modalities(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> tuple[str, ...]:
    """GA `["audio"]` / `["text"]`; preview `["text", "audio"]` (= GA audio) / `["text"]`."""
    if dialect is Dialect.GA:
        return _typed(raw, _F.row("output_modalities"), param)
    allowed = '["text"] or ["text", "audio"]'
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ConfigError("output_modalities", raw, allowed, code="invalid_type", param=param)
    if raw == ["text"]:
        return ("text",)
    if sorted(raw) == ["audio", "text"]:
        return ("audio",)
    raise ConfigError("output_modalities", raw, allowed, param=param)


def read_tools(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> tuple[FunctionTool, ...]:
    if not isinstance(raw, list):
        raise ConfigError("tools", raw, "a list of function tools", code="invalid_type", param=param)
    if len(raw) > MAX_TOOLS:
        raise too_long("tools", raw, MAX_TOOLS, "tools").at(param)
    tools = []
    for i, tool in enumerate(raw):
        try:
            tools.append(tool_from_dict(tool, f"tools[{i}]"))
        except ConfigError as err:
            raise err.rebased(f"tools[{i}]", f"{param}[{i}]") from None
    return tuple(tools)


def read_tool_choice(raw: Any, dialect: Dialect, param: str, lenient: bool = False) -> str | FunctionChoice:
    if isinstance(raw, Mapping) and raw.get("type") == "function":
        # GA names the function flat; preview (Azure docs) nests it. Take the dialect's own form,
        # and the flat form in preview too (what the OpenAI beta accepted).
        nested = raw.get("function")
        if dialect is Dialect.GA and nested is not None:
            raise unknown("function", nested, f"{param}.function", "GA names the function as {type, name}")
    try:
        return tool_choice_from(raw, "tool_choice")
    except ConfigError as err:
        raise err.at(param) from None


def _typed(value: Any, row: Field, param: str) -> Any:
    try:
        return check(row, value)
    except ConfigError as err:
        raise err.at(param) from None


def _read_plain(row: Field) -> Reader:
    return lambda value, dialect, param, lenient: _typed(value, row, param)


# Rule kind -> reader of a value of that kind; plain kinds are checked by `checks.check`.
_READERS: dict[type, Reader] = {
    Modalities: read_modalities,
    Voice: read_voice,
    Format: read_format,
    NoiseReduction: _read_noise_reduction,
    TranscriptionObject: lambda v, d, p, lenient: transcription_from(v, d, p, lenient=lenient),
    TurnDetectionObject: lambda v, d, p, lenient: turn_detection_from(v, d, p, lenient=lenient),
    Tools: read_tools,
    ToolChoice: read_tool_choice,
    # numbers (speed, temperature) are range-checked when the config is built, after the whole
    # object is read: an unknown key elsewhere in it is reported first
    Number: lambda v, d, p, lenient: v,
    # checked whole by ResponseParams; items only take the canonical part names here
    Metadata: lambda v, d, p, lenient: v,
    Items: lambda v, d, p, lenient: _items_to_ga(v) if d is Dialect.PREVIEW else v,
}
_items_to_ga = items_with(item_to_ga)


def reader(row: Field) -> Reader:
    return _READERS.get(type(row.allowed)) or _read_plain(row)


# --- the walk ---------------------------------------------------------------------------------------


def _join(keys: list[str]) -> str:
    return " and ".join(keys) if len(keys) == 2 else ", ".join(keys)


# What the top level of each object is called in "not a ... key" hints.
_WHAT = {
    ("session", Dialect.GA): "not a GA realtime session key",
    ("session", Dialect.PREVIEW): "not a preview session key",
    ("response", Dialect.GA): "not a GA response.create option",
    ("response", Dialect.PREVIEW): "not a preview response.create option",
}


@functools.cache
def _elsewhere(table: FieldTable, dialect: Dialect) -> dict[str, str | None]:
    return table.other_dialect_keys(dialect)


class _Walk:
    """One read of a wire object in `dialect`, collecting canonical field values in `changes`."""

    def __init__(self, table: FieldTable, dialect: Dialect, lenient: bool) -> None:
        self.table = table
        self.scope = table.scope
        self.dialect = dialect
        self.lenient = lenient
        self.fields = table.at(dialect)  # wire path -> top-level field
        self.changes: dict[str, Any] = {}

    def read(self, row: Field, value: Any, param: str) -> None:
        self.changes[row.name] = reader(row)(value, self.dialect, param, self.lenient)

    def wrong_dialect(self, key: str, value: Any, instead: str | None) -> ConfigError:
        other = "preview (beta)" if self.dialect is Dialect.GA else "GA"
        hint = f"it is a {other} key" + (
            f"; use {self.scope}.{instead}" if instead else f"; {self.dialect} has no such setting"
        )
        return unknown(key, value, f"{self.scope}.{key}", hint)

    def top(self, obj: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> None:
        dialect, lenient = self.dialect, self.lenient
        containers = self.table.containers(dialect)
        elsewhere = _elsewhere(self.table, dialect)
        server_only = SERVER_ONLY_SESSION_KEYS if self.scope == "session" else frozenset()
        for key, value in obj.items():
            param = f"{self.scope}.{key}"
            row = self.fields.get((key,))
            if key in skip:
                continue
            if row is not None:
                self.read(row, value, param)
            elif (key,) in containers:
                self.container((key,), value)
            elif key in self.table.unmodelled(dialect):
                if not lenient:  # accepted, not acted on, and still held to its shape
                    check_passthrough("", key, value, param)
            elif lenient and key in server_only:
                continue
            elif key in elsewhere and (dialect is Dialect.GA or not lenient):
                raise self.wrong_dialect(key, value, elsewhere[key])
            elif not lenient:
                raise unknown(key, value, param, _WHAT[(self.scope, dialect)])

    def container(self, path: tuple[str, ...], value: Any) -> None:
        """A GA object holding fields (`audio`, `audio.input`, ...): its keys are walked in turn."""
        param = f"{self.scope}." + ".".join(path)
        inner = self.table.inside(self.dialect, path)
        if not isinstance(value, Mapping):
            shape = "an object {" + ", ".join(inner) + "}" if len(path) == 1 else "an object"
            raise ConfigError(path[-1], value, shape, code="invalid_type", param=param)
        for key, item in value.items():
            sub = (*path, key)
            row = self.fields.get(sub)
            if row is not None:
                self.read(row, item, f"{param}.{key}")
            elif key in inner:
                self.container(sub, item)
            elif not self.lenient:
                raise unknown(key, item, f"{param}.{key}", ".".join(path) + " takes " + _join(list(inner)))


def _check_ga_type(session: Mapping[str, Any], lenient: bool) -> None:
    """GA sessions name their kind on every update; only `realtime` sessions are modelled."""
    row = _F.row("type")
    assert isinstance(row.allowed, Fixed)
    param, allowed = _F.param(row.name, Dialect.GA), f"'{row.allowed.value}'"
    if row.key not in session:
        if not lenient:
            raise ConfigError(row.name, None, allowed, code="missing_required_parameter", param=param)
    elif session[row.key] != row.allowed.value:
        kind = session[row.key]
        hint = "; transcription sessions are not supported" if kind == "transcription" else ""
        raise ConfigError(row.name, kind, allowed + hint, param=param)


def collect(
    table: FieldTable, obj: Mapping[str, Any], dialect: Dialect, *, lenient: bool = False
) -> dict[str, Any]:
    """The canonical field values a wire object (full or partial) of `dialect` sets, by field name.

    A GA session's `type` is checked first (required, and only `realtime`)."""
    skip: frozenset[str] = frozenset()
    if table is SESSION_FIELDS and dialect is Dialect.GA:
        _check_ga_type(obj, lenient)
        skip = frozenset({"type"})
    walk = _Walk(table, dialect, lenient)
    walk.top(obj, skip)
    return walk.changes
