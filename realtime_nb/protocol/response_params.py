"""`ResponseParams`: the options of one `response.create`, typed and validated once.

The client builds them from keyword options (`response_create`) and the engine reads them from the
wire (`from_wire`); both get the same rules and the same `ConfigError` (code, and `param` spelled as
on the dialect's wire, e.g. `response.max_response_output_tokens` in preview). Every option is
optional: None means "use the session's value".

Values are canonical (the GA vocabulary): `output_modalities=("audio",)`, `output_format="pcm16"`,
`input` items with assistant parts `output_text` / `output_audio`. `temperature` exists only in
preview. `input` items are kept as (copied) dicts: what an item may hold is the conversation's
business, not this object's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass
from typing import Any

from realtime_nb.protocol.config import (
    AUDIO_FORMATS,
    VOICES,
    ConfigError,
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    _check_choice,
    _check_max_tokens,
    _check_modalities,
    _check_number,
    _check_str,
    _format_from_ga_wire,
    _format_from_preview_wire,
    _modalities_from_preview,
    _tool_choice_for,
    _tool_choice_from,
    _tool_from_dict,
    _voice_for,
)
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.translate import format_to_ga, item_to_ga, response_params_to_preview

__all__ = ["ResponseParams"]

_METADATA_MAX_PAIRS = 16
_METADATA_MAX_KEY = 64
_METADATA_MAX_VALUE = 512
_CONVERSATIONS = ("auto", "none")
_TEMPERATURE = (0.6, 1.2)

# Canonical option -> its path under `response`, per dialect (None: the dialect has no such option).
_PATHS: dict[str, dict[Dialect, str | None]] = {
    "instructions": {Dialect.GA: "instructions", Dialect.PREVIEW: "instructions"},
    "output_modalities": {Dialect.GA: "output_modalities", Dialect.PREVIEW: "modalities"},
    "voice": {Dialect.GA: "audio.output.voice", Dialect.PREVIEW: "voice"},
    "output_format": {Dialect.GA: "audio.output.format", Dialect.PREVIEW: "output_audio_format"},
    "tools": {Dialect.GA: "tools", Dialect.PREVIEW: "tools"},
    "tool_choice": {Dialect.GA: "tool_choice", Dialect.PREVIEW: "tool_choice"},
    "max_output_tokens": {Dialect.GA: "max_output_tokens", Dialect.PREVIEW: "max_response_output_tokens"},
    "temperature": {Dialect.GA: None, Dialect.PREVIEW: "temperature"},
    "conversation": {Dialect.GA: "conversation", Dialect.PREVIEW: "conversation"},
    "metadata": {Dialect.GA: "metadata", Dialect.PREVIEW: "metadata"},
    "input": {Dialect.GA: "input", Dialect.PREVIEW: "input"},
}
# GA params the SDK knows that we accept and ignore.
_GA_UNMODELLED = frozenset({"prompt", "reasoning", "parallel_tool_calls"})


def _param(field_path: str, dialect: Dialect) -> str:
    """`response.` + the wire path of a canonical option (`tools[2].name` -> `response.tools[2].name`)."""
    cut = min((i for i in (field_path.find("."), field_path.find("[")) if i >= 0), default=len(field_path))
    head, rest = field_path[:cut], field_path[cut:]
    return "response." + (_PATHS.get(head, {}).get(dialect) or head) + rest


def _reparam(err: ConfigError, dialect: Dialect) -> ConfigError:
    return ConfigError(err.field, err.value, err.allowed, code=err.code, param=_param(err.field, dialect))


@dataclass(frozen=True)
class ResponseParams:
    """The options of a `response.create`, canonical and validated on construction.

    `dialect` (construction only, not stored) checks what that dialect can express at the same
    time and spells error params as on its wire; without it the values are checked as canonical
    (GA vocabulary, plus preview's `temperature`) and `to_wire` checks the dialect later.
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
        for name, normalise in _NORMALISE.items():  # in field order: the first bad option is named
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, normalise(value, dialect))

    # -- dialects ---------------------------------------------------------------------------------

    def check_dialect(self, dialect: Dialect) -> None:
        """Raise ConfigError if an option cannot be expressed in `dialect` (voice marin in preview,
        temperature in GA)."""
        if dialect is Dialect.GA:
            if self.temperature is not None:
                raise _temperature_is_preview_only(self.temperature)
            return
        if self.voice is not None and (
            isinstance(self.voice, CustomVoice) or self.voice not in VOICES[dialect]
        ):
            raw = {"id": self.voice.id} if isinstance(self.voice, CustomVoice) else self.voice
            _voice_for(raw, dialect, _param("voice", dialect))

    def to_canonical(self) -> dict[str, Any]:
        """The `response` object in the canonical (GA) shape; `temperature` kept (preview-only)."""
        out: dict[str, Any] = {}
        if self.instructions is not None:
            out["instructions"] = self.instructions
        if self.output_modalities is not None:
            out["output_modalities"] = list(self.output_modalities)
        if self.voice is not None or self.output_format is not None:
            output: dict[str, Any] = {}
            if self.voice is not None:
                output["voice"] = {"id": self.voice.id} if isinstance(self.voice, CustomVoice) else self.voice
            if self.output_format is not None:
                output["format"] = format_to_ga(self.output_format)
            out["audio"] = {"output": output}
        if self.tools is not None:
            out["tools"] = [tool.to_wire() for tool in self.tools]
        if self.tool_choice is not None:
            choice = self.tool_choice
            out["tool_choice"] = (
                {"type": "function", "name": choice.name} if isinstance(choice, FunctionChoice) else choice
            )
        if self.max_output_tokens is not None:
            out["max_output_tokens"] = self.max_output_tokens
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.conversation is not None:
            out["conversation"] = self.conversation
        if self.metadata is not None:
            out["metadata"] = dict(self.metadata)
        if self.input is not None:
            out["input"] = [dict(item) for item in self.input]
        return out

    def to_wire(self, dialect: Dialect) -> dict[str, Any]:
        """The `response` object of a `response.create` in `dialect` (empty when nothing is set)."""
        self.check_dialect(dialect)
        canonical = self.to_canonical()
        return response_params_to_preview(canonical) if dialect is Dialect.PREVIEW else canonical

    @classmethod
    def from_wire(cls, params: Any, dialect: Dialect) -> ResponseParams:
        """Read the `response` object of a client's `response.create` (None: no options).

        Refuses what the service refuses (ConfigError, param spelled for `dialect`): unknown or
        other-dialect keys, bad values, `temperature` in GA. A null `metadata` means none.
        """
        if params is None:
            return cls()
        if not isinstance(params, Mapping):
            raise ConfigError("response", params, "an object", code="invalid_type", param="response")
        names = _top_level_keys(dialect)
        options: dict[str, Any] = {}
        for key, value in params.items():
            param = f"response.{key}"
            name = names.get(key)
            if name is not None:
                read = _WIRE_READERS.get(name)
                options[name] = value if read is None else read(value, dialect, param)
            elif dialect is Dialect.GA and key == "audio":
                options.update(_read_ga_audio(value))
            elif dialect is Dialect.GA and key in _GA_UNMODELLED:
                continue
            else:
                raise _unknown_key(key, value, dialect)
        if options.get("metadata", ...) is None:
            del options["metadata"]
        return cls(**options, dialect=dialect)


def _top_level_keys(dialect: Dialect) -> dict[str, str]:
    """Wire key directly under `response` -> canonical option, for `dialect`."""
    return {path: name for name, paths in _PATHS.items() if (path := paths[dialect]) and "." not in path}


def _unknown_key(key: str, value: Any, dialect: Dialect) -> ConfigError:
    other = Dialect.PREVIEW if dialect is Dialect.GA else Dialect.GA
    theirs = _top_level_keys(other)
    if key in theirs:
        ours = _PATHS[theirs[key]][dialect]
        where = "preview (beta)" if dialect is Dialect.GA else "GA"
        hint = f"it is a {where} key" + (
            f"; use response.{ours}" if ours else f"; {dialect} has no such option"
        )
    else:
        hint = f"not a {dialect} response.create parameter"
    return ConfigError(key, value, hint, code="unknown_parameter", param=f"response.{key}")


def _read_ga_audio(audio: Any) -> dict[str, Any]:
    if not isinstance(audio, Mapping):
        raise ConfigError("audio", audio, "an object {output}", code="invalid_type", param="response.audio")
    out: dict[str, Any] = {}
    for direction, section in audio.items():
        param = f"response.audio.{direction}"
        if direction != "output":
            raise ConfigError(direction, section, "audio takes output", code="unknown_parameter", param=param)
        if not isinstance(section, Mapping):
            raise ConfigError(direction, section, "an object", code="invalid_type", param=param)
        for key, value in section.items():
            if key == "voice":
                out["voice"] = value
            elif key == "format":
                out["output_format"] = _format_from_ga_wire(value, f"{param}.format")
            else:
                raise ConfigError(
                    key,
                    value,
                    "audio.output takes format, voice",
                    code="unknown_parameter",
                    param=f"{param}.{key}",
                )
    return out


def _temperature_is_preview_only(value: Any) -> ConfigError:
    return ConfigError(
        "temperature",
        value,
        "temperature exists only in preview",
        code="unknown_parameter",
        param="response.temperature",
    )


def _spelled(name: str, check: Any, *, canonical: bool = False) -> Any:
    """`check(name, value)` as a normaliser whose errors name the dialect's wire path (the
    canonical one when `canonical`: the value checked has the canonical, not the wire, shape)."""

    def normalise(value: Any, dialect: Dialect | None) -> Any:
        try:
            out = check(name, value)
        except ConfigError as err:
            raise _reparam(err, Dialect.GA if canonical else dialect or Dialect.GA) from None
        return value if out is None else out

    return normalise


def _voice(value: Any, dialect: Dialect | None) -> str | CustomVoice:
    spell = dialect or Dialect.GA
    raw = {"id": value.id} if isinstance(value, CustomVoice) else value
    return _voice_for(raw, spell, _param("voice", spell))


def _tools(value: Any, dialect: Dialect | None) -> tuple[FunctionTool, ...]:
    spell = dialect or Dialect.GA
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(
            "tools", value, "a list of function tools", code="invalid_type", param=_param("tools", spell)
        )
    try:
        return tuple(_tool_from_dict(tool, f"tools[{i}]") for i, tool in enumerate(value))
    except ConfigError as err:
        raise _reparam(err, spell) from None


def _temperature(value: Any, dialect: Dialect | None) -> float:
    if dialect is Dialect.GA:
        raise _temperature_is_preview_only(value)
    return _spelled("temperature", lambda n, v: _check_number(n, v, *_TEMPERATURE))(value, dialect)


def _items(value: Any, dialect: Dialect | None) -> tuple[dict[str, Any], ...]:
    if (
        isinstance(value, (str, bytes, Mapping))
        or not isinstance(value, Sequence)
        or not all(isinstance(item, Mapping) for item in value)
    ):
        raise ConfigError(
            "input", value, "a list of items or item references", code="invalid_type", param="response.input"
        )
    return tuple(dict(item) for item in value)


# Option -> normaliser(value, dialect) -> canonical value, in field (= checking) order.
_NORMALISE: dict[str, Any] = {
    "instructions": _spelled("instructions", _check_str),
    # ["audio"] is canonical, ["text", "audio"] the preview wire: name the canonical option.
    "output_modalities": _spelled("output_modalities", _check_modalities, canonical=True),
    "voice": _voice,
    "output_format": _spelled("output_format", lambda n, v: _check_choice(n, v, AUDIO_FORMATS)),
    "tools": _tools,
    "tool_choice": _spelled("tool_choice", lambda n, v: _tool_choice_from(v, n)),
    "max_output_tokens": _spelled("max_output_tokens", _check_max_tokens),
    "temperature": _temperature,
    "conversation": _spelled("conversation", lambda n, v: _check_choice(n, v, _CONVERSATIONS)),
    "metadata": lambda value, dialect: _check_metadata(value),
    "input": _items,
}


def _read_modalities(value: Any, dialect: Dialect, param: str) -> Any:
    return _modalities_from_preview(value, param) if dialect is Dialect.PREVIEW else value


def _read_format(value: Any, dialect: Dialect, param: str) -> str:
    if dialect is Dialect.PREVIEW:
        return _format_from_preview_wire(value, param)
    return _format_from_ga_wire(value, param)


def _read_input(value: Any, dialect: Dialect, param: str) -> Any:
    if dialect is Dialect.PREVIEW and isinstance(value, list):
        return [item_to_ga(item) for item in value]
    return value


# Options whose wire shape differs from the canonical value: reader(value, dialect, param).
_WIRE_READERS: dict[str, Any] = {
    "output_modalities": _read_modalities,
    "output_format": _read_format,
    "tool_choice": _tool_choice_for,
    "input": _read_input,
}


def _check_metadata(metadata: Any) -> dict[str, str]:
    allowed = (
        f"up to {_METADATA_MAX_PAIRS} string pairs, keys up to {_METADATA_MAX_KEY} characters, "
        f"values up to {_METADATA_MAX_VALUE}"
    )
    if not isinstance(metadata, Mapping):
        raise ConfigError("metadata", metadata, allowed, code="invalid_type", param="response.metadata")
    if len(metadata) > _METADATA_MAX_PAIRS:
        raise ConfigError("metadata", len(metadata), allowed, param="response.metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(
                "metadata", {key: value}, allowed, code="invalid_type", param=f"response.metadata.{key}"
            )
        if len(key) > _METADATA_MAX_KEY or len(value) > _METADATA_MAX_VALUE:
            raise ConfigError("metadata", key, allowed, param=f"response.metadata.{key}")
    return dict(metadata)
