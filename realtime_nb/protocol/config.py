"""Session configuration: typed, validated, rendered for either dialect.

`SessionConfig` is the canonical (GA-shaped) session held by the client, the engine and the
widgets. Every value is checked when the object is built, so a bad setting is refused before
anything is sent, with a `ConfigError` naming the field, the value and what is allowed.

Defaults follow OpenAI's documented values: server_vad threshold 0.5, prefix padding 300 ms,
silence 500 ms. Azure sessions (and some GA sessions) *report* silence 200 ms; we keep 500 as our
default so a config means the same thing on every peer, and `from_wire` reads whatever the peer
reports. semantic_vad eagerness `auto` behaves as `medium`.

Partial updates (`apply_session_update`) follow the service: keys left out keep their value, null
switches turn detection / noise reduction / transcription off, `""` clears the instructions, and a
turn_detection object is taken whole (fields left out of it take the service defaults, which is why
our client always sends whole objects). Errors never half-apply: configs are immutable and an update
returns a new one only when all of it is valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.translate import format_to_ga, session_to_preview

__all__ = [
    "AUDIO_FORMATS",
    "AUDIO_RATES",
    "EAGERNESS_VALUES",
    "ISO_639_1",
    "NOISE_REDUCTION_VALUES",
    "SERVER_VAD_RANGES",
    "TOOL_CHOICE_MODES",
    "TRANSCRIPTION_MODELS",
    "VOICES",
    "AudioFormat",
    "ConfigError",
    "CustomVoice",
    "FunctionChoice",
    "FunctionTool",
    "NoiseReduction",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "Transcription",
    "TurnDetection",
    "apply_session_update",
    "wire_param",
]

# --- facts ------------------------------------------------------------------------------------

AudioFormat: TypeAlias = Literal["pcm16", "g711_ulaw", "g711_alaw"]
AUDIO_FORMATS: tuple[str, ...] = ("pcm16", "g711_ulaw", "g711_alaw")
AUDIO_RATES: dict[str, int] = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}

NoiseReduction: TypeAlias = Literal["near_field", "far_field"] | None
NOISE_REDUCTION_VALUES: tuple[str | None, ...] = (None, "near_field", "far_field")

EAGERNESS_VALUES: tuple[str, ...] = ("auto", "low", "medium", "high")
TOOL_CHOICE_MODES: tuple[str, ...] = ("auto", "none", "required")

_PREVIEW_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")
VOICES: dict[Dialect, tuple[str, ...]] = {
    Dialect.PREVIEW: _PREVIEW_VOICES,  # 2025-04-01-preview (2024-10: alloy echo shimmer only)
    Dialect.GA: (*_PREVIEW_VOICES, "marin", "cedar"),  # GA also takes a custom voice {id: ...}
}

TRANSCRIPTION_MODELS: dict[Dialect, tuple[str, ...]] = {
    Dialect.PREVIEW: ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"),
    Dialect.GA: (
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe-diarize",
        "gpt-transcribe",
        "gpt-live-transcribe",
        "gpt-realtime-whisper",
    ),
}

# Slider hints for the widgets: field -> (min, max, step). The service bounds are threshold 0..1
# and non-negative integer durations; the maxima here are UI choices, not limits we enforce.
SERVER_VAD_RANGES: dict[str, tuple[float, float, float]] = {
    "threshold": (0.0, 1.0, 0.01),
    "prefix_padding_ms": (0, 2000, 10),
    "silence_duration_ms": (0, 3000, 10),
    "idle_timeout_ms": (1000, 60000, 500),
}

_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky
    la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny
    oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
    st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu
"""
ISO_639_1: frozenset[str] = frozenset(_ISO_639_1_CODES.split())

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_TOKENS = 4096

# --- errors -----------------------------------------------------------------------------------

ErrorCode: TypeAlias = Literal[
    "invalid_value", "unknown_parameter", "missing_required_parameter", "invalid_type"
]

# First component of a canonical field -> its wire path, per dialect (the rest of the path follows).
_WIRE_PATHS: dict[Dialect, dict[str, str]] = {
    Dialect.GA: {
        "voice": "session.audio.output.voice",
        "speed": "session.audio.output.speed",
        "output_format": "session.audio.output.format",
        "input_format": "session.audio.input.format",
        "noise_reduction": "session.audio.input.noise_reduction",
        "transcription": "session.audio.input.transcription",
        "turn_detection": "session.audio.input.turn_detection",
    },
    Dialect.PREVIEW: {
        "output_modalities": "session.modalities",
        "output_format": "session.output_audio_format",
        "input_format": "session.input_audio_format",
        "noise_reduction": "session.input_audio_noise_reduction",
        "transcription": "session.input_audio_transcription",
        "max_output_tokens": "session.max_response_output_tokens",
    },
}


def wire_param(field_path: str, dialect: Dialect) -> str:
    """The wire path of a canonical config field, e.g. `turn_detection.threshold` ->
    `session.audio.input.turn_detection.threshold` (GA) / `session.turn_detection.threshold`."""
    cut = min((i for i in (field_path.find("."), field_path.find("[")) if i >= 0), default=len(field_path))
    head, rest = field_path[:cut], field_path[cut:]
    return _WIRE_PATHS[dialect].get(head, f"session.{head}") + rest


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(ValueError):
    """A session setting that cannot be used, with what the service's error event would carry.

    `field` is the canonical config path (`turn_detection.threshold`), `param` the wire path in the
    dialect at hand (`session.audio.input.turn_detection.threshold`), `allowed` says what is accepted.
    """

    def __init__(
        self,
        field: str,
        value: Any,
        allowed: str,
        *,
        code: ErrorCode = "invalid_value",
        param: str | None = None,
        message: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.code: ErrorCode = code
        self._explicit_param = param is not None
        self.param = param if param is not None else wire_param(field, Dialect.GA)
        self._message = message
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self._message is not None:
            return self._message
        if self.code == "missing_required_parameter":
            return f"Missing required parameter {self.param}; expected {self.allowed}."
        if self.code == "unknown_parameter":
            return f"Unknown parameter {self.param}: {self.allowed}."
        return f"Invalid {self.param}: {_show(self.value)}; allowed: {self.allowed}."

    def __str__(self) -> str:
        return self.message

    def in_dialect(self, dialect: Dialect) -> ConfigError:
        """The same error with `param` spelled as on `dialect`'s wire (explicit params are kept)."""
        if self._explicit_param:
            return self
        return ConfigError(
            self.field,
            self.value,
            self.allowed,
            code=self.code,
            param=wire_param(self.field, dialect),
            message=self._message,
        )


# --- value checks (shared with client_events) ---------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    allowed = f"a number from {low} to {high}"
    if not _is_number(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if not low <= value <= high:
        raise ConfigError(name, value, allowed)


def _check_ms(name: str, value: Any, *, minimum: int = 0) -> None:
    allowed = f"an integer number of milliseconds >= {minimum}"
    if not _is_int(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if value < minimum:
        raise ConfigError(name, value, allowed)


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(name, value, "true or false", code="invalid_type")


def _check_str(name: str, value: Any, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise ConfigError(name, value, "a string" + (" or null" if nullable else ""), code="invalid_type")


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices or (value is not None and not isinstance(value, str)):
        raise ConfigError(name, value, "one of " + ", ".join(_show(c) for c in choices))


def _check_max_tokens(name: str, value: Any) -> None:
    if value == "inf" and isinstance(value, str):
        return
    allowed = f'an integer from 1 to {_MAX_TOKENS}, or "inf"'
    if not _is_int(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if not 1 <= value <= _MAX_TOKENS:
        raise ConfigError(name, value, allowed)


def _check_modalities(name: str, value: Any) -> tuple[str, ...]:
    allowed = '["audio"] (audio with its transcript) or ["text"]'
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    modalities = tuple(value)
    if modalities not in (("audio",), ("text",)):
        raise ConfigError(name, list(value), allowed)
    return modalities


# --- value objects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerVad:
    """Silence-based turn detection. `idle_timeout_ms` (GA only) must be None or a positive integer:
    the OpenAI reference gives no bounds for it that we could confirm."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True

    type = "server_vad"

    def __post_init__(self) -> None:
        _check_number("turn_detection.threshold", self.threshold, 0.0, 1.0)
        _check_ms("turn_detection.prefix_padding_ms", self.prefix_padding_ms)
        _check_ms("turn_detection.silence_duration_ms", self.silence_duration_ms)
        if self.idle_timeout_ms is not None:
            _check_ms("turn_detection.idle_timeout_ms", self.idle_timeout_ms, minimum=1)
        _check_bool("turn_detection.create_response", self.create_response)
        _check_bool("turn_detection.interrupt_response", self.interrupt_response)


@dataclass(frozen=True)
class SemanticVad:
    """Model-judged end of turn; eagerness bounds the wait (low 8 s, medium/auto 4 s, high 2 s)."""

    eagerness: str = "auto"
    create_response: bool = True
    interrupt_response: bool = True

    type = "semantic_vad"

    def __post_init__(self) -> None:
        _check_choice("turn_detection.eagerness", self.eagerness, EAGERNESS_VALUES)
        _check_bool("turn_detection.create_response", self.create_response)
        _check_bool("turn_detection.interrupt_response", self.interrupt_response)


TurnDetection: TypeAlias = ServerVad | SemanticVad | None


@dataclass(frozen=True)
class Transcription:
    """Input-audio transcription; `language` is an ISO-639-1 code, `prompt` free text / keywords."""

    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None

    def __post_init__(self) -> None:
        _check_choice("transcription.model", self.model, TRANSCRIPTION_MODELS[Dialect.GA])
        _check_str("transcription.language", self.language, nullable=True)
        if self.language is not None and self.language not in ISO_639_1:
            raise ConfigError(
                "transcription.language", self.language, "a lowercase ISO-639-1 code such as 'en'"
            )
        _check_str("transcription.prompt", self.prompt, nullable=True)


@dataclass(frozen=True)
class CustomVoice:
    """A GA custom voice, `{"id": "voice_..."}` on the wire."""

    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError("voice.id", self.id, "a non-empty voice id string", code="invalid_type")


def _default_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call; `parameters` is a JSON Schema object (copied on the way in)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=_default_parameters)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TOOL_NAME.match(self.name):
            raise ConfigError("tools.name", self.name, "1-64 characters from a-z A-Z 0-9 _ -")
        _check_str("tools.description", self.description)
        if not isinstance(self.parameters, Mapping):
            raise ConfigError(
                "tools.parameters", self.parameters, "a JSON Schema object", code="invalid_type"
            )
        # A private deep copy, so later edits to the caller's dict cannot change a frozen config.
        object.__setattr__(self, "parameters", json.loads(json.dumps(dict(self.parameters))))

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
        _check_str("tool_choice.name", self.name)


def _tool_from_dict(raw: Any, name: str) -> FunctionTool:
    if isinstance(raw, FunctionTool):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(name, raw, "a function tool object", code="invalid_type")
    tool_type = raw.get("type", "function")
    if tool_type != "function":
        raise ConfigError(f"{name}.type", tool_type, "'function' (other tool types are not modelled)")
    extra = set(raw) - {"type", "name", "description", "parameters"}
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(
            f"{name}.{key}", raw[key], "type, name, description, parameters", code="unknown_parameter"
        )
    if "name" not in raw:
        raise ConfigError(
            f"{name}.name", None, "a function tool needs a name", code="missing_required_parameter"
        )
    description = raw.get("description")
    parameters = raw.get("parameters")
    try:
        return FunctionTool(
            name=raw["name"],
            description="" if description is None else description,
            parameters=_default_parameters() if parameters is None else parameters,
        )
    except ConfigError as err:
        field_path = name + err.field[len("tools") :]  # tools.name -> tools[2].name
        raise ConfigError(field_path, err.value, err.allowed, code=err.code) from None


def _tool_choice_from(raw: Any, name: str) -> str | FunctionChoice:
    if isinstance(raw, FunctionChoice):
        return raw
    if isinstance(raw, str):
        _check_choice(name, raw, TOOL_CHOICE_MODES)
        return raw
    allowed = "auto, none, required, or a function {type: 'function', name}"
    if isinstance(raw, Mapping) and raw.get("type") == "function":
        fn = raw.get("function")
        fn_name = fn.get("name") if isinstance(fn, Mapping) else raw.get("name")
        if isinstance(fn_name, str) and fn_name:
            return FunctionChoice(fn_name)
    raise ConfigError(name, raw, allowed)


def _turn_detection_from(raw: Any, dialect: Dialect, param: str, *, lenient: bool = False) -> TurnDetection:
    """A whole turn_detection wire object -> ServerVad / SemanticVad (omitted fields -> defaults)."""
    if raw is None or isinstance(raw, (ServerVad, SemanticVad)):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError("turn_detection", raw, "an object or null", code="invalid_type", param=param)
    if "type" not in raw:
        if dialect is Dialect.GA:
            raise ConfigError(
                "turn_detection.type",
                None,
                "'server_vad' or 'semantic_vad'",
                code="missing_required_parameter",
                param=f"{param}.type",
            )
        kind = "server_vad"  # the preview service assumes server_vad
    else:
        kind = raw["type"]
    cls: type[ServerVad] | type[SemanticVad]
    if kind == "server_vad":
        cls = ServerVad
    elif kind == "semantic_vad":
        cls = SemanticVad
    else:
        raise ConfigError(
            "turn_detection.type", kind, "'server_vad' or 'semantic_vad'", param=f"{param}.type"
        )
    names = [f.name for f in dataclasses.fields(cls)]
    if dialect is Dialect.PREVIEW and "idle_timeout_ms" in names:
        names.remove("idle_timeout_ms")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            continue
        if key not in names:
            if lenient:  # a peer reporting a field newer than this package
                continue
            reason = (
                f"{kind} takes only " + ", ".join(names)
                if key in _VAD_FIELDS
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
        raise _reparam(err, "turn_detection", param) from None


_GA_TURN_DETECTION = "session.audio.input.turn_detection"
_GA_TRANSCRIPTION = "session.audio.input.transcription"
_VAD_FIELDS = frozenset(f.name for f in dataclasses.fields(ServerVad)) | {"eagerness"}


def _reparam(err: ConfigError, prefix: str, param: str) -> ConfigError:
    """Rebase an error raised inside a value object onto the wire path where the object came from."""
    tail = err.field[len(prefix) :] if err.field.startswith(prefix) else "." + err.field
    return ConfigError(err.field, err.value, err.allowed, code=err.code, param=param + tail)


def _transcription_from(
    raw: Any, dialect: Dialect, param: str, *, lenient: bool = False
) -> Transcription | None:
    if raw is None or isinstance(raw, Transcription):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError("transcription", raw, "an object or null", code="invalid_type", param=param)
    accepted = {"model", "language", "prompt"}
    # Later GA transcription keys: accepted (the SDK sends them) but not modelled.
    ignored = {"languages", "keywords", "delay"} if dialect is Dialect.GA else set()
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in accepted:
            if value is not None:
                kwargs[key] = value
        elif key not in ignored and not lenient:
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
        raise _reparam(err, "transcription", param) from None


def _voice_from(raw: Any, name: str = "voice") -> str | CustomVoice:
    if isinstance(raw, CustomVoice):
        return raw
    if isinstance(raw, Mapping):
        if set(raw) != {"id"}:
            raise ConfigError(
                name, dict(raw), "a voice name or a custom voice {id: ...}", code="invalid_type"
            )
        return CustomVoice(raw["id"])
    _check_choice(name, raw, VOICES[Dialect.GA])
    return raw


# --- the session --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionConfig:
    """A realtime session in the canonical (GA) shape; validated on construction.

    Friendly inputs are normalised: lists become tuples, wire-shaped dicts are accepted for
    `turn_detection`, `transcription`, `voice` (`{id}`), `tools` and `tool_choice`.
    `temperature` exists only in preview and is rendered only there.
    """

    type: str = "realtime"
    model: str | None = None
    output_modalities: tuple[str, ...] = ("audio",)
    instructions: str = ""
    voice: str | CustomVoice = "alloy"
    speed: float = 1.0
    input_format: str = "pcm16"
    output_format: str = "pcm16"
    noise_reduction: str | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection = ServerVad()
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: str | FunctionChoice = "auto"
    temperature: float = 0.8
    max_output_tokens: int | str = "inf"

    def __post_init__(self) -> None:
        put = object.__setattr__
        if self.type != "realtime":
            raise ConfigError("type", self.type, "'realtime' (transcription sessions are not modelled)")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ConfigError("model", self.model, "a model or deployment name, or None", code="invalid_type")
        put(self, "output_modalities", _check_modalities("output_modalities", self.output_modalities))
        _check_str("instructions", self.instructions)
        put(self, "voice", _voice_from(self.voice))
        _check_number("speed", self.speed, 0.25, 1.5)
        _check_choice("input_format", self.input_format, AUDIO_FORMATS)
        _check_choice("output_format", self.output_format, AUDIO_FORMATS)
        _check_choice("noise_reduction", self.noise_reduction, NOISE_REDUCTION_VALUES)
        if isinstance(self.transcription, Mapping):
            put(self, "transcription", _transcription_from(self.transcription, Dialect.GA, _GA_TRANSCRIPTION))
        elif self.transcription is not None and not isinstance(self.transcription, Transcription):
            raise ConfigError(
                "transcription", self.transcription, "a Transcription or None", code="invalid_type"
            )
        if isinstance(self.turn_detection, Mapping):
            put(
                self,
                "turn_detection",
                _turn_detection_from(self.turn_detection, Dialect.GA, _GA_TURN_DETECTION),
            )
        elif self.turn_detection is not None and not isinstance(
            self.turn_detection, (ServerVad, SemanticVad)
        ):
            raise ConfigError(
                "turn_detection", self.turn_detection, "ServerVad, SemanticVad or None", code="invalid_type"
            )
        if isinstance(self.tools, (str, bytes, Mapping)) or not isinstance(self.tools, Sequence):
            raise ConfigError("tools", self.tools, "a list of function tools", code="invalid_type")
        tools = tuple(_tool_from_dict(t, f"tools[{i}]") for i, t in enumerate(self.tools))
        names = [t.name for t in tools]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ConfigError("tools", duplicate, "tool names must be unique")
        put(self, "tools", tools)
        choice = _tool_choice_from(self.tool_choice, "tool_choice")
        if isinstance(choice, FunctionChoice) and choice.name not in names:
            raise ConfigError(
                "tool_choice",
                choice.name,
                "the name of a defined tool: " + (", ".join(names) or "(no tools)"),
            )
        put(self, "tool_choice", choice)
        _check_number("temperature", self.temperature, 0.6, 1.2)
        _check_max_tokens("max_output_tokens", self.max_output_tokens)

    def replace(self, **changes: Any) -> SessionConfig:
        """A copy with `changes` applied and validated (raises ConfigError, never half-applies)."""
        known = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ConfigError(
                    name, value, "fields are " + ", ".join(sorted(known)), code="unknown_parameter"
                )
        return dataclasses.replace(self, **changes)

    def check_dialect(self, dialect: Dialect) -> None:
        """Raise ConfigError if a value cannot be expressed in `dialect` (e.g. voice marin in preview)."""
        if dialect is not Dialect.PREVIEW:
            return
        if isinstance(self.voice, CustomVoice):
            raise ConfigError(
                "voice", {"id": self.voice.id}, "custom voices exist only in GA", param="session.voice"
            )
        if self.voice not in VOICES[Dialect.PREVIEW]:
            raise ConfigError(
                "voice", self.voice, "one of " + ", ".join(VOICES[Dialect.PREVIEW]), param="session.voice"
            )
        if self.transcription is not None and self.transcription.model not in TRANSCRIPTION_MODELS[dialect]:
            raise ConfigError(
                "transcription.model",
                self.transcription.model,
                "one of " + ", ".join(TRANSCRIPTION_MODELS[dialect]),
                param="session.input_audio_transcription.model",
            )
        if isinstance(self.turn_detection, ServerVad) and self.turn_detection.idle_timeout_ms is not None:
            raise ConfigError(
                "turn_detection.idle_timeout_ms",
                self.turn_detection.idle_timeout_ms,
                "None: idle_timeout_ms exists only in GA",
                code="unknown_parameter",
                param="session.turn_detection.idle_timeout_ms",
            )

    def to_wire(self, dialect: Dialect) -> dict[str, Any]:
        """The full `session` object of `dialect` (for session.update / session.created)."""
        self.check_dialect(dialect)
        ga = self._ga_session(dialect)
        if dialect is Dialect.PREVIEW:
            ga["temperature"] = self.temperature
            return session_to_preview(ga)
        return ga

    def _ga_session(self, dialect: Dialect) -> dict[str, Any]:
        session: dict[str, Any] = {"type": self.type}
        if self.model is not None:
            session["model"] = self.model
        audio_input: dict[str, Any] = {
            "format": format_to_ga(self.input_format),
            "noise_reduction": None if self.noise_reduction is None else {"type": self.noise_reduction},
            "transcription": _transcription_wire(self.transcription),
            "turn_detection": _turn_detection_wire(self.turn_detection, dialect),
        }
        voice = {"id": self.voice.id} if isinstance(self.voice, CustomVoice) else self.voice
        session.update(
            {
                "output_modalities": list(self.output_modalities),
                "instructions": self.instructions,
                "audio": {
                    "input": audio_input,
                    "output": {
                        "format": format_to_ga(self.output_format),
                        "voice": voice,
                        "speed": self.speed,
                    },
                },
                "tools": [t.to_wire() for t in self.tools],
                "tool_choice": (
                    {"type": "function", "name": self.tool_choice.name}
                    if isinstance(self.tool_choice, FunctionChoice)
                    else self.tool_choice
                ),
                "max_output_tokens": self.max_output_tokens,
            }
        )
        return session

    @classmethod
    def from_wire(cls, session: Mapping[str, Any], dialect: Dialect) -> SessionConfig:
        """Read a session object a peer reported (session.created / .updated, full or partial).

        Keys left out take our defaults; server-only and unknown keys are ignored, since a peer may
        report fields newer than this package.
        """
        return _apply(cls(), session, dialect, lenient=True)


def _transcription_wire(t: Transcription | None) -> dict[str, Any] | None:
    if t is None:
        return None
    out: dict[str, Any] = {"model": t.model}
    if t.language is not None:
        out["language"] = t.language
    if t.prompt is not None:
        out["prompt"] = t.prompt
    return out


def _turn_detection_wire(td: TurnDetection, dialect: Dialect) -> dict[str, Any] | None:
    if td is None:
        return None
    out: dict[str, Any] = {"type": td.type}
    for f in dataclasses.fields(td):
        if f.name == "idle_timeout_ms" and dialect is Dialect.PREVIEW:
            continue
        out[f.name] = getattr(td, f.name)
    return out


# --- partial updates ----------------------------------------------------------------------------

# GA session keys the SDK sends that SessionConfig does not model: accepted and ignored.
_GA_UNMODELLED = frozenset({"tracing", "truncation", "prompt", "include", "reasoning", "parallel_tool_calls"})
_PREVIEW_UNMODELLED = frozenset({"tracing", "include"})
_SERVER_ONLY = frozenset({"id", "object", "expires_at", "client_secret"})

# Keys of the other dialect, with the name to use instead (for the error message).
_PREVIEW_KEYS_IN_GA = {
    "modalities": "output_modalities",
    "voice": "audio.output.voice",
    "speed": "audio.output.speed",
    "input_audio_format": "audio.input.format",
    "output_audio_format": "audio.output.format",
    "input_audio_noise_reduction": "audio.input.noise_reduction",
    "input_audio_transcription": "audio.input.transcription",
    "turn_detection": "audio.input.turn_detection",
    "max_response_output_tokens": "max_output_tokens",
    "temperature": None,
}
_GA_KEYS_IN_PREVIEW = {
    "type": None,
    "output_modalities": "modalities",
    "audio": "voice, speed, input_audio_format, output_audio_format, turn_detection, ...",
    "max_output_tokens": "max_response_output_tokens",
    "truncation": None,
    "prompt": None,
    "reasoning": None,
    "parallel_tool_calls": None,
}


def _unknown(key: str, value: Any, param: str, hint: str) -> ConfigError:
    return ConfigError(key, value, hint, code="unknown_parameter", param=param)


def _wrong_dialect(key: str, value: Any, dialect: Dialect, instead: str | None) -> ConfigError:
    other = "preview (beta)" if dialect is Dialect.GA else "GA"
    hint = f"it is a {other} key" + (
        f"; use session.{instead}" if instead else f"; {dialect} has no such setting"
    )
    return _unknown(key, value, f"session.{key}", hint)


def _format_from_ga_wire(raw: Any, param: str, *, lenient: bool = False) -> str:
    allowed = "{type: 'audio/pcm', rate: 24000}, {type: 'audio/pcmu'} or {type: 'audio/pcma'}"
    if not isinstance(raw, Mapping):
        raise ConfigError("format", raw, allowed, code="invalid_type", param=param)
    kind = raw.get("type")
    if "type" not in raw:
        raise ConfigError("format", None, allowed, code="missing_required_parameter", param=f"{param}.type")
    short = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}.get(kind)  # type: ignore[arg-type]
    if short is None:
        raise ConfigError("format", kind, allowed, param=f"{param}.type")
    for key, value in raw.items():
        if key == "rate" and short == "pcm16":
            if value != 24000 or not _is_int(value):
                raise ConfigError("format", value, "24000 (the only PCM rate)", param=f"{param}.rate")
        elif key != "type" and not lenient:
            raise _unknown(
                key, value, f"{param}.{key}", "a format object takes type (and rate for audio/pcm)"
            )
    return short


def _format_from_preview_wire(raw: Any, param: str) -> str:
    if not isinstance(raw, str):
        raise ConfigError(
            "format", raw, "one of " + ", ".join(AUDIO_FORMATS), code="invalid_type", param=param
        )
    if raw not in AUDIO_FORMATS:
        raise ConfigError("format", raw, "one of " + ", ".join(AUDIO_FORMATS), param=param)
    return raw


def _noise_reduction_from(raw: Any, dialect: Dialect, param: str, *, lenient: bool = False) -> str | None:
    allowed = "{type: 'near_field'}, {type: 'far_field'} or null"
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError("noise_reduction", raw, allowed, code="invalid_type", param=param)
    if "type" not in raw:
        raise ConfigError(
            "noise_reduction.type", None, allowed, code="missing_required_parameter", param=f"{param}.type"
        )
    for key, value in raw.items():
        # GA's later `strength` is accepted (the SDK sends it) but not modelled.
        if key != "type" and not (key == "strength" and dialect is Dialect.GA) and not lenient:
            raise _unknown(key, value, f"{param}.{key}", "noise reduction takes type")
    kind = raw["type"]
    if kind not in ("near_field", "far_field"):
        raise ConfigError("noise_reduction.type", kind, "'near_field' or 'far_field'", param=f"{param}.type")
    return kind


def _voice_for(raw: Any, dialect: Dialect, param: str) -> str | CustomVoice:
    voices = VOICES[dialect]
    if isinstance(raw, Mapping) and dialect is Dialect.GA:
        if set(raw) != {"id"} or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise ConfigError("voice", dict(raw), "a custom voice is {id: 'voice_...'}", param=param)
        return CustomVoice(raw["id"])
    allowed = "one of " + ", ".join(voices) + (" or {id: ...}" if dialect is Dialect.GA else "")
    if not isinstance(raw, str):
        raise ConfigError("voice", raw, allowed, code="invalid_type", param=param)
    if raw not in voices:
        raise ConfigError("voice", raw, allowed, param=param)
    return raw


def _modalities_from_preview(raw: Any, param: str) -> tuple[str, ...]:
    allowed = '["text"] or ["text", "audio"]'
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ConfigError("output_modalities", raw, allowed, code="invalid_type", param=param)
    if raw == ["text"]:
        return ("text",)
    if sorted(raw) == ["audio", "text"]:
        return ("audio",)
    raise ConfigError("output_modalities", raw, allowed, param=param)


def _tools_from(raw: Any, param: str) -> tuple[FunctionTool, ...]:
    if not isinstance(raw, list):
        raise ConfigError("tools", raw, "a list of function tools", code="invalid_type", param=param)
    tools = []
    for i, tool in enumerate(raw):
        try:
            tools.append(_tool_from_dict(tool, f"tools[{i}]"))
        except ConfigError as err:
            raise _reparam(err, f"tools[{i}]", f"{param}[{i}]") from None
    return tuple(tools)


def _tool_choice_for(raw: Any, dialect: Dialect, param: str) -> str | FunctionChoice:
    if isinstance(raw, Mapping) and raw.get("type") == "function":
        # GA names the function flat; preview (Azure docs) nests it. Take the dialect's own form,
        # and the flat form in preview too (what the OpenAI beta accepted).
        nested = raw.get("function")
        if dialect is Dialect.GA and nested is not None:
            raise _unknown("function", nested, f"{param}.function", "GA names the function as {type, name}")
    try:
        return _tool_choice_from(raw, "tool_choice")
    except ConfigError as err:
        raise ConfigError(err.field, err.value, err.allowed, code=err.code, param=param) from None


def _typed(value: Any, check: Any, name: str, param: str) -> Any:
    try:
        check(name, value)
    except ConfigError as err:
        raise ConfigError(err.field, err.value, err.allowed, code=err.code, param=param) from None
    return value


def _collect_ga(session: Mapping[str, Any], lenient: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "type" not in session:
        if not lenient:
            raise ConfigError(
                "type", None, "'realtime'", code="missing_required_parameter", param="session.type"
            )
    elif session["type"] != "realtime":
        kind = session["type"]
        allowed = "'realtime'" + (
            "; transcription sessions are not supported" if kind == "transcription" else ""
        )
        raise ConfigError("type", kind, allowed, param="session.type")
    for key, value in session.items():
        param = f"session.{key}"
        if key == "type":
            continue
        if key == "model":
            changes["model"] = _typed(value, _check_str, "model", param)
        elif key == "instructions":
            changes["instructions"] = _typed(value, _check_str, "instructions", param)
        elif key == "output_modalities":
            changes["output_modalities"] = _typed(value, _check_modalities, "output_modalities", param)
        elif key == "audio":
            _collect_ga_audio(value, changes, lenient)
        elif key == "tools":
            changes["tools"] = _tools_from(value, param)
        elif key == "tool_choice":
            changes["tool_choice"] = _tool_choice_for(value, Dialect.GA, param)
        elif key == "max_output_tokens":
            changes["max_output_tokens"] = _typed(value, _check_max_tokens, "max_output_tokens", param)
        elif key in _GA_UNMODELLED or (lenient and key in _SERVER_ONLY):
            continue
        elif key in _PREVIEW_KEYS_IN_GA:
            raise _wrong_dialect(key, value, Dialect.GA, _PREVIEW_KEYS_IN_GA[key])
        elif not lenient:
            raise _unknown(key, value, param, "not a GA realtime session key")
    return changes


def _collect_ga_audio(audio: Any, changes: dict[str, Any], lenient: bool) -> None:
    if not isinstance(audio, Mapping):
        raise ConfigError(
            "audio", audio, "an object {input, output}", code="invalid_type", param="session.audio"
        )
    for direction, section in audio.items():
        param = f"session.audio.{direction}"
        if direction not in ("input", "output"):
            if lenient:
                continue
            raise _unknown(direction, section, param, "audio takes input and output")
        if not isinstance(section, Mapping):
            raise ConfigError(direction, section, "an object", code="invalid_type", param=param)
        for key, value in section.items():
            p = f"{param}.{key}"
            if direction == "input" and key == "format":
                changes["input_format"] = _format_from_ga_wire(value, p, lenient=lenient)
            elif direction == "output" and key == "format":
                changes["output_format"] = _format_from_ga_wire(value, p, lenient=lenient)
            elif direction == "input" and key == "noise_reduction":
                changes["noise_reduction"] = _noise_reduction_from(value, Dialect.GA, p, lenient=lenient)
            elif direction == "input" and key == "transcription":
                changes["transcription"] = _transcription_from(value, Dialect.GA, p, lenient=lenient)
            elif direction == "input" and key == "turn_detection":
                changes["turn_detection"] = _turn_detection_from(value, Dialect.GA, p, lenient=lenient)
            elif direction == "output" and key == "voice":
                changes["voice"] = _voice_for(value, Dialect.GA, p)
            elif direction == "output" and key == "speed":
                changes["speed"] = value
            elif not lenient:
                keys = "format, noise_reduction, transcription, turn_detection"
                raise _unknown(
                    key,
                    value,
                    p,
                    f"audio.{direction} takes " + (keys if direction == "input" else "format, voice, speed"),
                )


def _collect_preview(session: Mapping[str, Any], lenient: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    d = Dialect.PREVIEW
    for key, value in session.items():
        param = f"session.{key}"
        if key == "model":
            changes["model"] = _typed(value, _check_str, "model", param)
        elif key == "instructions":
            changes["instructions"] = _typed(value, _check_str, "instructions", param)
        elif key == "modalities":
            changes["output_modalities"] = _modalities_from_preview(value, param)
        elif key == "voice":
            changes["voice"] = _voice_for(value, d, param)
        elif key == "speed":
            changes["speed"] = value
        elif key == "input_audio_format":
            changes["input_format"] = _format_from_preview_wire(value, param)
        elif key == "output_audio_format":
            changes["output_format"] = _format_from_preview_wire(value, param)
        elif key == "input_audio_noise_reduction":
            changes["noise_reduction"] = _noise_reduction_from(value, d, param, lenient=lenient)
        elif key == "input_audio_transcription":
            changes["transcription"] = _transcription_from(value, d, param, lenient=lenient)
        elif key == "turn_detection":
            changes["turn_detection"] = _turn_detection_from(value, d, param, lenient=lenient)
        elif key == "tools":
            changes["tools"] = _tools_from(value, param)
        elif key == "tool_choice":
            changes["tool_choice"] = _tool_choice_for(value, d, param)
        elif key == "temperature":
            changes["temperature"] = value
        elif key == "max_response_output_tokens":
            changes["max_output_tokens"] = _typed(value, _check_max_tokens, "max_output_tokens", param)
        elif key in _PREVIEW_UNMODELLED or (lenient and key in _SERVER_ONLY):
            continue
        elif key in _GA_KEYS_IN_PREVIEW and not lenient:
            raise _wrong_dialect(key, value, d, _GA_KEYS_IN_PREVIEW[key])
        elif not lenient:
            raise _unknown(key, value, param, "not a preview session key")
    return changes


def _apply(config: SessionConfig, session: Any, dialect: Dialect, *, lenient: bool) -> SessionConfig:
    if not isinstance(session, Mapping):
        raise ConfigError("session", session, "a session object", code="invalid_type", param="session")
    changes = _collect_ga(session, lenient) if dialect is Dialect.GA else _collect_preview(session, lenient)
    try:
        updated = dataclasses.replace(config, **changes)
        updated.check_dialect(dialect)
    except ConfigError as err:
        raise err.in_dialect(dialect) from None
    return updated


def apply_session_update(
    config: SessionConfig, wire_session: Mapping[str, Any], dialect: Dialect
) -> SessionConfig:
    """`config` with a client's partial `session.update` applied, as the service would.

    Missing keys keep their value; null switches turn detection, noise reduction and transcription
    off; `""` clears the instructions; a turn_detection object is taken whole. GA requires
    `session.type`. Raises ConfigError (code and param as the service's error event) and never
    half-applies: `config` itself is immutable and is returned unchanged in spirit on error.
    """
    return _apply(config, wire_session, dialect, lenient=False)
