"""The value objects of a session: turn detection, transcription, voices, tools, tool choice.

Each is frozen and checked on construction against its rows in `fields.SESSION_FIELDS` (defaults
and limits come from there). The `*_from` readers build them from wire-shaped dicts, naming the bad
key with its wire path; `to_wire` renders the GA (= canonical) form.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from realtime_nb.protocol.checks import check, check_choice, check_str
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError, too_long
from realtime_nb.protocol.fields import SESSION_FIELDS, VOICES
from realtime_nb.protocol.limits import MAX_ID_CHARS, MAX_TEXT_CHARS
from realtime_nb.protocol.passthrough import check_passthrough
from realtime_nb.protocol.rules import ToolChoice, ToolName

__all__ = [
    "CustomVoice",
    "FunctionChoice",
    "FunctionTool",
    "NoiseReduction",
    "SemanticVad",
    "ServerVad",
    "Transcription",
    "TurnDetection",
    "tool_choice_from",
    "tool_from_dict",
    "transcription_from",
    "turn_detection_from",
    "voice_from",
]

_F = SESSION_FIELDS

NoiseReduction: TypeAlias = Literal["near_field", "far_field"] | None  # see NOISE_REDUCTION_VALUES


def _check_rows(obj: Any, rows: tuple[Any, ...]) -> None:
    for row in rows:
        check(row, getattr(obj, row.key))


# --- turn detection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerVad:
    """Silence-based turn detection. `idle_timeout_ms` (GA only) must be None or a positive integer:
    the OpenAI reference gives no bounds for it that we could confirm."""

    threshold: float = _F.default("turn_detection.threshold")
    prefix_padding_ms: int = _F.default("turn_detection.prefix_padding_ms")
    silence_duration_ms: int = _F.default("turn_detection.silence_duration_ms")
    idle_timeout_ms: int | None = _F.default("turn_detection.idle_timeout_ms")
    create_response: bool = _F.default("turn_detection.create_response")
    interrupt_response: bool = _F.default("turn_detection.interrupt_response")

    type = "server_vad"

    def __post_init__(self) -> None:
        _check_rows(self, _F.children("turn_detection", self.type)[1:])  # [0] is `type` itself

    def to_wire(self, dialect: Dialect = Dialect.GA) -> dict[str, Any]:
        return _turn_detection_wire(self, dialect)


@dataclass(frozen=True)
class SemanticVad:
    """Model-judged end of turn; eagerness bounds the wait (low 8 s, medium/auto 4 s, high 2 s)."""

    eagerness: str = _F.default("turn_detection.eagerness")
    create_response: bool = _F.default("turn_detection.create_response")
    interrupt_response: bool = _F.default("turn_detection.interrupt_response")

    type = "semantic_vad"

    def __post_init__(self) -> None:
        _check_rows(self, _F.children("turn_detection", self.type)[1:])

    def to_wire(self, dialect: Dialect = Dialect.GA) -> dict[str, Any]:
        return _turn_detection_wire(self, dialect)


TurnDetection: TypeAlias = ServerVad | SemanticVad | None
_TURN_DETECTION_CLASSES: dict[str, type[ServerVad] | type[SemanticVad]] = {
    cls.type: cls for cls in (ServerVad, SemanticVad)
}
_VAD_KEYS = frozenset(row.key for row in _F.children("turn_detection"))


@functools.cache
def _turn_detection_keys(kind: str, dialect: Dialect) -> tuple[str, ...]:
    """The wire keys of a turn-detection type in `dialect`, `type` first, in row order."""
    rows = _F.children("turn_detection", kind)
    return tuple(row.key for row in rows if _F.path(row.name, dialect) is not None)


def _turn_detection_wire(td: ServerVad | SemanticVad, dialect: Dialect) -> dict[str, Any]:
    """`{type, ...fields}`; fields `dialect` lacks (GA's idle_timeout_ms) left out."""
    return {key: getattr(td, key) for key in _turn_detection_keys(td.type, dialect)}


def turn_detection_from(raw: Any, dialect: Dialect, param: str, *, lenient: bool = False) -> TurnDetection:
    """A whole turn_detection wire object -> ServerVad / SemanticVad (omitted fields -> defaults)."""
    if raw is None or isinstance(raw, (ServerVad, SemanticVad)):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError("turn_detection", raw, "an object or null", code="invalid_type", param=param)
    kinds = " or ".join(f"'{k}'" for k in _TURN_DETECTION_CLASSES)
    if "type" not in raw:
        if dialect is Dialect.GA:
            raise ConfigError(
                "turn_detection.type", None, kinds, code="missing_required_parameter", param=f"{param}.type"
            )
        kind = _F.default("turn_detection.type")  # the preview service assumes server_vad
    else:
        kind = raw["type"]
    cls = _TURN_DETECTION_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError("turn_detection.type", kind, kinds, param=f"{param}.type")
    names = list(_turn_detection_keys(kind, dialect)[1:])
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            continue
        if key not in names:
            if lenient:  # a peer reporting a field newer than this package
                continue
            reason = (
                f"{kind} takes only " + ", ".join(names)
                if key in _VAD_KEYS
                else "turn_detection takes type, " + ", ".join(names)
            )
            raise ConfigError(
                f"turn_detection.{key}", value, reason, code="unknown_parameter", param=f"{param}.{key}"
            )
        if value is not None:  # the SDK's "not set"; the service default applies
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise err.rebased("turn_detection", param) from None


# --- transcription ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transcription:
    """Input-audio transcription; `language` is an ISO-639-1 code, `prompt` free text / keywords."""

    model: str = _F.default("transcription.model")
    language: str | None = _F.default("transcription.language")
    prompt: str | None = _F.default("transcription.prompt")

    def __post_init__(self) -> None:
        _check_rows(self, _F.children("transcription"))

    def to_wire(self, dialect: Dialect = Dialect.GA) -> dict[str, Any]:
        """`model` always; `language` and `prompt` only when set."""
        out: dict[str, Any] = {"model": self.model}
        for row in _F.children("transcription")[1:]:
            if getattr(self, row.key) is not None:
                out[row.key] = getattr(self, row.key)
        return out


def transcription_from(
    raw: Any, dialect: Dialect, param: str, *, lenient: bool = False
) -> Transcription | None:
    if raw is None or isinstance(raw, Transcription):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError("transcription", raw, "an object or null", code="invalid_type", param=param)
    accepted = {row.key for row in _F.children("transcription")}
    ignored = _F.unmodelled(dialect, "transcription")  # later keys the SDK sends
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in accepted:
            if value is not None:
                kwargs[key] = value
        elif key in ignored:
            if not lenient:  # accepted, not acted on, and still held to its shape
                check_passthrough("transcription", key, value, f"{param}.{key}")
        elif not lenient:
            raise ConfigError(
                f"transcription.{key}",
                value,
                "transcription takes " + ", ".join(sorted(accepted)),
                code="unknown_parameter",
                param=f"{param}.{key}",
            )
    try:
        return Transcription(**kwargs)
    except ConfigError as err:
        raise err.rebased("transcription", param) from None


# --- voices -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomVoice:
    """A GA custom voice, `{"id": "voice_..."}` on the wire."""

    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError("voice.id", self.id, "a non-empty voice id string", code="invalid_type")
        if len(self.id) > MAX_ID_CHARS:
            raise too_long("voice.id", self.id, MAX_ID_CHARS)

    def to_wire(self) -> dict[str, str]:
        return {"id": self.id}


def voice_from(raw: Any, name: str = "voice") -> str | CustomVoice:
    """A canonical voice: a GA voice name, a CustomVoice or its `{id}` mapping."""
    if isinstance(raw, CustomVoice):
        return raw
    if isinstance(raw, Mapping):
        if set(raw) != {"id"}:
            raise ConfigError(
                name, dict(raw), "a voice name or a custom voice {id: ...}", code="invalid_type"
            )
        return CustomVoice(raw["id"])
    check_choice(name, raw, VOICES[Dialect.GA])
    return raw


def voice_wire(voice: str | CustomVoice) -> str | dict[str, str]:
    return voice.to_wire() if isinstance(voice, CustomVoice) else voice


# --- tools ------------------------------------------------------------------------------------------


def _default_parameters() -> dict[str, Any]:
    return json.loads(json.dumps(_F.default("tools.parameters")))


_NAME_RULE = _F.row("tools.name").allowed
assert isinstance(_NAME_RULE, ToolName)
_TOOL_NAME = re.compile(_NAME_RULE.pattern)
_TOOL_KEYS = ("type", *(row.key for row in _F.children("tools")))


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call; `parameters` is a JSON Schema object (copied on the way in)."""

    name: str
    description: str = _F.default("tools.description")
    parameters: Mapping[str, Any] = field(default_factory=_default_parameters)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TOOL_NAME.match(self.name):
            raise ConfigError("tools.name", self.name, _NAME_RULE.describe())
        check_str("tools.description", self.description)
        if not isinstance(self.parameters, Mapping):
            raise ConfigError(
                "tools.parameters", self.parameters, "a JSON Schema object", code="invalid_type"
            )
        # A private deep copy, so later edits to the caller's dict cannot change a frozen config.
        text = json.dumps(dict(self.parameters))
        if len(text) > MAX_TEXT_CHARS:
            raise ConfigError(
                "tools.parameters",
                self.parameters,
                f"a JSON Schema of at most {MAX_TEXT_CHARS} characters (this one has {len(text)})",
                code="string_above_max_length",
            )
        object.__setattr__(self, "parameters", json.loads(text))

    def __hash__(self) -> int:
        return hash((self.name, self.description, json.dumps(self.parameters, sort_keys=True)))

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": json.loads(json.dumps(self.parameters)),
        }


@dataclass(frozen=True)
class FunctionChoice:
    """tool_choice naming one function: GA `{type: function, name}`."""

    name: str

    def __post_init__(self) -> None:
        check_str("tool_choice.name", self.name)

    def to_wire(self) -> dict[str, str]:
        return {"type": "function", "name": self.name}


def tool_from_dict(raw: Any, name: str) -> FunctionTool:
    if isinstance(raw, FunctionTool):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(name, raw, "a function tool object", code="invalid_type")
    tool_type = raw.get("type", "function")
    if tool_type != "function":
        raise ConfigError(f"{name}.type", tool_type, "'function' (other tool types are not modelled)")
    extra = set(raw) - set(_TOOL_KEYS)
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(f"{name}.{key}", raw[key], ", ".join(_TOOL_KEYS), code="unknown_parameter")
    if "name" not in raw:
        raise ConfigError(
            f"{name}.name", None, "a function tool needs a name", code="missing_required_parameter"
        )
    description = raw.get("description")
    parameters = raw.get("parameters")
    try:
        return FunctionTool(
            name=raw["name"],
            description=_F.default("tools.description") if description is None else description,
            parameters=_default_parameters() if parameters is None else parameters,
        )
    except ConfigError as err:
        field_path = name + err.field[len("tools") :]  # tools.name -> tools[2].name
        raise ConfigError(field_path, err.value, err.allowed, code=err.code) from None


_CHOICE_RULE = _F.row("tool_choice").allowed
assert isinstance(_CHOICE_RULE, ToolChoice)


def tool_choice_from(raw: Any, name: str) -> str | FunctionChoice:
    """A canonical tool_choice: a mode, a FunctionChoice, or a function in either wire form."""
    if isinstance(raw, FunctionChoice):
        return raw
    if isinstance(raw, str):
        check_choice(name, raw, _CHOICE_RULE.modes)
        return raw
    allowed = ", ".join(_CHOICE_RULE.modes) + ", or a function {type: 'function', name}"
    if isinstance(raw, Mapping) and raw.get("type") == "function":
        fn = raw.get("function")
        fn_name = fn.get("name") if isinstance(fn, Mapping) else raw.get("name")
        if isinstance(fn_name, str) and fn_name:
            return FunctionChoice(fn_name)
    raise ConfigError(name, raw, allowed)


def tool_choice_wire(choice: str | FunctionChoice) -> str | dict[str, str]:
    return choice.to_wire() if isinstance(choice, FunctionChoice) else choice
