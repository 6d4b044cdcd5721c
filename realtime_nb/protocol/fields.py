"""The session and response fields, one row each: the single source of names, paths and limits.

A row says what a field is called canonically (`turn_detection.threshold`), where it sits on each
dialect's wire (GA `audio.input.turn_detection.threshold` under `session`, preview
`turn_detection.threshold`; None where the dialect lacks it), its Python type, default, what values
are allowed, how its wire value differs between dialects (`shape`) and one line of doc. Everything
that spells a dialect path derives from these rows: translation (`translate`), reading and writing
sessions (`session_reader`, `SessionConfig`), response options (`ResponseParams`), the `param` of
every `ConfigError`, the wrong-dialect hints, the widgets' ranges and docs/session-fields.md.

This module is data: no checks and no errors (the `Allowed` values only *describe* a rule; the
code that enforces each kind of rule lives beside the value objects and readers that use it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import EllipsisType, MappingProxyType
from typing import Any

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.formats import AUDIO_FORMATS
from realtime_nb.protocol.rules import (
    Allowed,
    Flag,
    Format,
    Includes,
    Items,
    JsonSchema,
    Kind,
    Language,
    Metadata,
    Millis,
    Modalities,
    ModelName,
    NoiseReduction,
    Number,
    OneOf,
    SessionType,
    Text,
    TokenLimit,
    ToolChoice,
    ToolName,
    Tools,
    TranscriptionObject,
    TurnDetectionObject,
    Voice,
)
from realtime_nb.protocol.shapes import FORMAT, ITEMS, MODALITIES, SAME, TOOL_CHOICE, Shape

__all__ = [
    "EAGERNESS_VALUES",
    "INCLUDE_VALUES",
    "ISO_639_1",
    "NOISE_REDUCTION_VALUES",
    "RESPONSE_FIELDS",
    "RESPONSE_OBJECT_FIELDS",
    "SERVER_VAD_RANGES",
    "SESSION_FIELDS",
    "SESSION_TYPES",
    "TOOL_CHOICE_MODES",
    "TRANSCRIPTION_MODELS",
    "TRANSCRIPTION_SESSION_FIELDS",
    "TURN_DETECTION_TYPES",
    "VOICES",
    "Field",
    "FieldTable",
    "wire_param",
]

# --- vocabularies -------------------------------------------------------------------------------

NOISE_REDUCTION_VALUES: tuple[str | None, ...] = (None, "near_field", "far_field")
EAGERNESS_VALUES: tuple[str, ...] = ("auto", "low", "medium", "high")
TOOL_CHOICE_MODES: tuple[str, ...] = ("auto", "none", "required")
TURN_DETECTION_TYPES: tuple[str, ...] = ("server_vad", "semantic_vad")
# A connection opens one kind of session: GA says which in `session.type`; preview opens a
# transcription session with `?intent=transcription` and speaks `transcription_session.*` on it.
SESSION_TYPES: tuple[str, ...] = ("realtime", "transcription")
INCLUDE_VALUES: tuple[str, ...] = ("item.input_audio_transcription.logprobs",)

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


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field. `ga` / `preview` are its key under its parent (its path under the session or
    response object for top-level fields); `...` means the canonical key, None that the dialect
    lacks the field. Defaults are canonical values; object-valued fields give their wire form."""

    name: str
    type: str
    default: Any
    allowed: Allowed
    doc: str
    ga: str | EllipsisType | None = ...
    preview: str | EllipsisType | None = ...
    shape: Shape = SAME
    kinds: tuple[str, ...] = ()  # turn-detection types the field belongs to
    ui: tuple[float, float, float] | None = None  # slider (min, max, step): a UI choice, not a limit
    optional: bool = False  # left off the wire when None instead of sent as null

    @functools.cached_property
    def key(self) -> str:
        """The last component of the canonical name (`threshold`)."""
        return self.name.rpartition(".")[2]

    @functools.cached_property
    def parent(self) -> str | None:
        """The canonical name of the object holding this field, or None at the top level."""
        return self.name.rpartition(".")[0] or None


class FieldTable:
    """The rows of one object (`session` or `response`) and what derives from their paths."""

    def __init__(
        self,
        scope: str,
        rows: tuple[Field, ...],
        *,
        unmodelled: Mapping[str, Mapping[str, frozenset[Dialect]]] | None = None,
        container_hints: Mapping[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self.rows = rows
        self._by_name = {row.name: row for row in rows}
        self._unmodelled = unmodelled or {}
        self._container_hints = container_hints or {}
        self._paths: dict[tuple[str, Dialect], str | None] = {}
        for row in rows:
            for dialect in Dialect:
                self._paths[(row.name, dialect)] = self._resolve(row, dialect)
        # Everything below is asked for on every config built or read: worked out once.
        self._top = tuple(row for row in rows if row.parent is None)
        self._children: dict[tuple[str, str | None], tuple[Field, ...]] = {}
        for row in rows:
            if row.parent is not None:
                for kind in (None, *row.kinds):
                    self._children.setdefault((row.parent, kind), ())
                    self._children[(row.parent, kind)] += (row,)
        self._at = {
            dialect: MappingProxyType(
                {tuple(path.split(".")): row for row in self._top if (path := self.path(row.name, dialect))}
            )
            for dialect in Dialect
        }
        self._containers = {
            dialect: frozenset(path[:i] for path in self._at[dialect] for i in range(1, len(path)))
            for dialect in Dialect
        }
        self._inner = {  # container path -> the keys it holds, in row order
            dialect: {
                box: tuple(dict.fromkeys(p[len(box)] for p in self._at[dialect] if p[: len(box)] == box))
                for box in self._containers[dialect]
            }
            for dialect in Dialect
        }

    def _resolve(self, row: Field, dialect: Dialect) -> str | None:
        own = row.ga if dialect is Dialect.GA else row.preview
        if own is None:
            return None
        key = row.key if own is ... else own
        if row.parent is None:
            return key
        parent = self._paths[(row.parent, dialect)]
        return None if parent is None else f"{parent}.{key}"

    def __iter__(self) -> Iterator[Field]:
        return iter(self.rows)

    def row(self, name: str) -> Field:
        return self._by_name[name]

    def default(self, name: str) -> Any:
        return self._by_name[name].default

    def path(self, name: str, dialect: Dialect) -> str | None:
        """Where field `name` sits under the object in `dialect` (None: the dialect lacks it)."""
        return self._paths[(name, dialect)]

    def top_level(self) -> tuple[Field, ...]:
        return self._top

    def children(self, name: str, kind: str | None = None) -> tuple[Field, ...]:
        """The rows directly under `name` (of turn-detection type `kind` when given)."""
        return self._children.get((name, kind), ())

    def at(self, dialect: Dialect) -> Mapping[tuple[str, ...], Field]:
        """Top-level fields by their wire path in `dialect` (`("audio", "input", "format")`)."""
        return self._at[dialect]

    def containers(self, dialect: Dialect) -> frozenset[tuple[str, ...]]:
        """The objects `dialect` nests fields in (GA: `audio`, `audio.input`, `audio.output`), as
        paths; they are merged key by key, unlike field values, which are taken whole."""
        return self._containers[dialect]

    def inside(self, dialect: Dialect, container: tuple[str, ...]) -> tuple[str, ...]:
        """The keys a container holds in `dialect` (`("audio",)` -> `("input", "output")`)."""
        return self._inner[dialect][container]

    def param(self, field_path: str, dialect: Dialect) -> str:
        """The wire path of a canonical field path, e.g. `turn_detection.threshold` ->
        `session.audio.input.turn_detection.threshold` (GA) / `session.turn_detection.threshold`.
        Indexes follow (`tools[2].name`); a name the dialect lacks keeps its canonical spelling."""
        cut = min(
            (i for i in (field_path.find("."), field_path.find("[")) if i >= 0), default=len(field_path)
        )
        head, rest = field_path[:cut], field_path[cut:]
        row = self._by_name.get(head)
        path = self.path(head, dialect) if row is not None else None
        return f"{self.scope}.{path or head}{rest}"

    def unmodelled(self, dialect: Dialect, under: str = "") -> frozenset[str]:
        """Keys the SDKs send under `under` (top level: "") that we accept and do not model."""
        return frozenset(k for k, ds in self._unmodelled.get(under, {}).items() if dialect in ds)

    def other_dialect_keys(self, dialect: Dialect) -> dict[str, str | None]:
        """Top-level keys of the *other* dialect that `dialect` spells differently or lacks, with
        `dialect`'s path for the same field (None: it has no such setting). For the hint of an
        unknown-parameter error."""
        other = Dialect.PREVIEW if dialect is Dialect.GA else Dialect.GA
        ours = {path[0] for path in self.at(dialect)}
        out: dict[str, str | None] = {}
        for path, row in self.at(other).items():
            key = path[0]
            if key in ours or key in out:
                continue
            if len(path) > 1:  # a container of the other dialect: name what it holds
                held = [self.path(r.name, dialect) for p, r in self.at(other).items() if p[0] == key]
                out[key] = self._container_hints.get(key) or ", ".join(p for p in held if p)
            else:
                out[key] = self.path(row.name, dialect)
        for key in self.unmodelled(other) - self.unmodelled(dialect):
            out.setdefault(key, None)
        return out


def _td(name: str, type_: str, default: Any, allowed: Allowed, doc: str, *kinds: str, **more: Any) -> Field:
    return Field(f"turn_detection.{name}", type_, default, allowed, doc, kinds=kinds, **more)


_SV, _SEM = "server_vad", "semantic_vad"
_BOTH = frozenset(Dialect)
_GA = frozenset({Dialect.GA})

# In wire order: GA and preview sessions are rendered in this order.
SESSION_FIELDS = FieldTable(
    "session",
    (
        Field(
            "type",
            "str",
            "realtime",
            SessionType(SESSION_TYPES),
            "Session kind; GA requires it (preview: transcription_session.* on ?intent=transcription)",
            preview=None,
        ),
        Field(
            "model", "str | None", None, ModelName(), "Model or deployment (fixed by the URL)", optional=True
        ),
        Field(
            "output_modalities",
            "tuple[str, ...]",
            ("audio",),
            Modalities(),
            "What responses produce",
            preview="modalities",
            shape=MODALITIES,
        ),
        Field("instructions", "str", "", Text(), "System instructions; empty clears them"),
        Field(
            "input_format",
            "str",
            "pcm16",
            Format(AUDIO_FORMATS),
            "Format of appended input audio",
            ga="audio.input.format",
            preview="input_audio_format",
            shape=FORMAT,
        ),
        Field(
            "noise_reduction",
            "str | None",
            None,
            NoiseReduction(NOISE_REDUCTION_VALUES),
            "Input noise reduction for the microphone's distance; null is off",
            ga="audio.input.noise_reduction",
            preview="input_audio_noise_reduction",
        ),
        Field(
            "transcription",
            "Transcription | None",
            None,
            TranscriptionObject(),
            "Transcription of input audio; null is off",
            ga="audio.input.transcription",
            preview="input_audio_transcription",
        ),
        Field(
            "transcription.model",
            "str",
            "whisper-1",
            OneOf(per_dialect=TRANSCRIPTION_MODELS),
            "Transcription model",
        ),
        Field("transcription.language", "str | None", None, Language(), "Spoken language; null detects it"),
        Field("transcription.prompt", "str | None", None, Text(nullable=True), "Free text or keywords"),
        Field(
            "turn_detection",
            "ServerVad | SemanticVad | None",
            {"type": _SV},
            TurnDetectionObject(),
            "Turn detection; null means the client commits and asks for responses",
            ga="audio.input.turn_detection",
        ),
        _td("type", "str", _SV, Kind(TURN_DETECTION_TYPES), "Silence-based or model-judged", _SV, _SEM),
        _td(
            "threshold",
            "float",
            0.5,
            Number(0.0, 1.0),
            "Speech probability above which audio is speech",
            _SV,
            ui=(0.0, 1.0, 0.01),
        ),
        _td(
            "prefix_padding_ms",
            "int",
            300,
            Millis(),
            "Audio kept before the detected start of speech",
            _SV,
            ui=(0, 2000, 10),
        ),
        _td(
            "silence_duration_ms",
            "int",
            500,
            Millis(),
            "Silence that ends a turn (Azure reports 200)",
            _SV,
            ui=(0, 3000, 10),
        ),
        _td(
            "idle_timeout_ms",
            "int | None",
            None,
            Millis(1, nullable=True),
            "Silence after a response that triggers timeout_triggered (GA only)",
            _SV,
            preview=None,
            ui=(1000, 60000, 500),
        ),
        _td(
            "eagerness",
            "str",
            "auto",
            OneOf(EAGERNESS_VALUES),
            "How soon the model ends a turn (low 8 s, medium/auto 4 s, high 2 s at most)",
            _SEM,
        ),
        _td("create_response", "bool", True, Flag(), "Respond when a turn ends", _SV, _SEM),
        _td("interrupt_response", "bool", True, Flag(), "Cancel the response when speech starts", _SV, _SEM),
        Field(
            "output_format",
            "str",
            "pcm16",
            Format(AUDIO_FORMATS),
            "Format of response audio",
            ga="audio.output.format",
            preview="output_audio_format",
            shape=FORMAT,
        ),
        Field(
            "voice",
            "str | CustomVoice",
            "alloy",
            Voice(per_dialect=VOICES),
            "Response voice (cannot change once the model has spoken)",
            ga="audio.output.voice",
        ),
        Field(
            "speed", "float", 1.0, Number(0.25, 1.5), "Speech rate of response audio", ga="audio.output.speed"
        ),
        Field("tools", "tuple[FunctionTool, ...]", (), Tools(), "Functions the model may call"),
        Field("tools.name", "str", None, ToolName(r"^[A-Za-z0-9_-]{1,64}$"), "Function name (unique)"),
        Field("tools.description", "str", "", Text(), "What the function does, for the model"),
        Field(
            "tools.parameters",
            "Mapping[str, Any]",
            {"type": "object", "properties": {}},
            JsonSchema(),
            "Arguments' JSON Schema",
        ),
        Field(
            "tool_choice",
            "str | FunctionChoice",
            "auto",
            ToolChoice(TOOL_CHOICE_MODES),
            "Whether and which tool the model must call",
            shape=TOOL_CHOICE,
        ),
        Field(
            "max_output_tokens",
            "int | str",
            "inf",
            TokenLimit(4096),
            "Output token limit per response",
            preview="max_response_output_tokens",
        ),
        Field("temperature", "float", 0.8, Number(0.6, 1.2), "Sampling temperature (preview only)", ga=None),
        Field(
            "include",
            "tuple[str, ...] | None",
            None,
            Includes(INCLUDE_VALUES),
            "Extra outputs: input transcription logprobs",
            optional=True,
        ),
    ),
    unmodelled={
        "": {
            "tracing": _BOTH,
            "truncation": _GA,
            "prompt": _GA,
            "reasoning": _GA,
            "parallel_tool_calls": _GA,
        },
        "transcription": {"languages": _GA, "keywords": _GA, "delay": _GA},
        "noise_reduction": {"strength": _GA},
    },
    container_hints={"audio": "voice, speed, input_audio_format, output_audio_format, turn_detection, ..."},
)

# The top-level fields a transcription session holds: its input side only. Every other session field
# belongs to responses, which a transcription session never makes.
TRANSCRIPTION_SESSION_FIELDS: tuple[str, ...] = (
    "type",
    "input_format",
    "noise_reduction",
    "transcription",
    "turn_detection",
    "include",
)

# Keys a peer reports about its session that are not settings.
SERVER_ONLY_SESSION_KEYS = frozenset({"id", "object", "expires_at", "client_secret"})


def _for_response(name: str) -> Field:
    """The session field `name` as a response.create option: same paths and rule, and no default
    (a response takes the session's value)."""
    row = SESSION_FIELDS.row(name)
    return row if row.parent is not None else dataclasses.replace(row, default=None)


RESPONSE_FIELDS = FieldTable(
    "response",
    (
        _for_response("instructions"),
        _for_response("output_modalities"),
        _for_response("voice"),
        _for_response("output_format"),
        _for_response("tools"),
        _for_response("tools.name"),
        _for_response("tools.description"),
        _for_response("tools.parameters"),
        _for_response("tool_choice"),
        _for_response("max_output_tokens"),
        _for_response("temperature"),
        Field("conversation", "str", None, OneOf(("auto", "none")), "`none`: out of band, not added"),
        Field("metadata", "Mapping[str, str]", None, Metadata(16, 64, 512), "Echoed in response.done"),
        Field(
            "input",
            "tuple[dict, ...]",
            None,
            Items(),
            "The response's context instead of the conversation",
            shape=ITEMS,
        ),
    ),
    unmodelled={"": {"prompt": _GA, "reasoning": _GA, "parallel_tool_calls": _GA}},
)

# The server's response object (response.created / .done) spells some of the same fields.
RESPONSE_OBJECT_FIELDS = FieldTable(
    "response",
    (
        _for_response("output_modalities"),
        _for_response("voice"),
        _for_response("output_format"),
        Field("output", "list[dict]", None, Items(), "The response's output items", shape=ITEMS),
    ),
)

# Slider hints for the widgets: server_vad field -> (min, max, step).
SERVER_VAD_RANGES: dict[str, tuple[float, float, float]] = {
    row.key: row.ui for row in SESSION_FIELDS.children("turn_detection", _SV) if row.ui is not None
}


def wire_param(field_path: str, dialect: Dialect) -> str:
    """The wire path of a canonical session field, e.g. `turn_detection.threshold` ->
    `session.audio.input.turn_detection.threshold` (GA) / `session.turn_detection.threshold`."""
    return SESSION_FIELDS.param(field_path, dialect)
