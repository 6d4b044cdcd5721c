"""`SessionConfig`: a realtime or transcription session, typed, validated, rendered for and read
from either dialect.

`SessionConfig` is the canonical (GA-shaped) session held by the client, the engine and the
widgets. Every value is checked when the object is built, so a bad setting is refused before
anything is sent, with a `ConfigError` naming the field, the value and what is allowed.

Defaults follow OpenAI's documented values (see `fields.SESSION_FIELDS`): server_vad threshold 0.5,
prefix padding 300 ms, silence 500 ms. Azure sessions (and some GA sessions) *report* silence 200 ms;
we keep 500 as our default so a config means the same thing on every peer, and `from_wire` reads
whatever the peer reports. semantic_vad eagerness `auto` behaves as `medium`.

Partial updates (`apply_session_update`) follow the service: keys left out keep their value, null
switches turn detection / noise reduction / transcription off, `""` clears the instructions, and a
turn_detection object is taken whole (fields left out of it take the service defaults, which is why
our client always sends whole objects). Errors never half-apply: configs are immutable and an update
returns a new one only when all of it is valid.

A transcription session (`type="transcription"`, `SessionConfig.for_transcription()`) is the same
object holding only its input side (`fields.TRANSCRIPTION_SESSION_FIELDS`): it renders only those
fields (GA `{type, audio.input, include}`, preview the flat `input_audio_*` keys of
`transcription_session.update`), and an update naming any other field is refused, since it has no
responses. A session keeps the type it opened with: an update naming the other type is refused.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from realtime_nb.protocol.checks import check
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError
from realtime_nb.protocol.fields import SESSION_FIELDS, TRANSCRIPTION_SESSION_FIELDS, Field
from realtime_nb.protocol.render import render
from realtime_nb.protocol.rules import (
    ModelName,
    OneOf,
    SessionType,
    ToolChoice,
    Tools,
    TranscriptionObject,
    TurnDetectionObject,
    Voice,
)
from realtime_nb.protocol.values import (
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    SemanticVad,
    ServerVad,
    Transcription,
    TurnDetection,
    tool_choice_from,
    tool_from_dict,
    transcription_from,
    turn_detection_from,
    voice_from,
)
from realtime_nb.protocol.wire_reader import collect

__all__ = ["SessionConfig", "apply_session_update", "check_same_kind"]

_F = SESSION_FIELDS
_GA_TRANSCRIPTION = _F.param("transcription", Dialect.GA)
_GA_TURN_DETECTION = _F.param("turn_detection", Dialect.GA)
# The table's defaults (immutable values); turn detection's is given in its wire form.
_DEFAULT: dict[str, Any] = {row.name: row.default for row in _F.top_level()}
_DEFAULT["turn_detection"] = turn_detection_from(_DEFAULT["turn_detection"], Dialect.GA, _GA_TURN_DETECTION)


@dataclass(frozen=True)
class SessionConfig:
    """A realtime session in the canonical (GA) shape; validated on construction.

    Friendly inputs are normalised: lists become tuples, wire-shaped dicts are accepted for
    `turn_detection`, `transcription`, `voice` (`{id}`), `tools` and `tool_choice`.
    `temperature` exists only in preview and is rendered only there. Fields are checked in the
    order they are declared here (the first bad one is reported).
    """

    type: str = _DEFAULT["type"]
    model: str | None = _DEFAULT["model"]
    output_modalities: tuple[str, ...] = _DEFAULT["output_modalities"]
    instructions: str = _DEFAULT["instructions"]
    voice: str | CustomVoice = _DEFAULT["voice"]
    speed: float = _DEFAULT["speed"]
    input_format: str = _DEFAULT["input_format"]
    output_format: str = _DEFAULT["output_format"]
    noise_reduction: str | None = _DEFAULT["noise_reduction"]
    transcription: Transcription | None = _DEFAULT["transcription"]
    turn_detection: TurnDetection = _DEFAULT["turn_detection"]
    tools: tuple[FunctionTool, ...] = _DEFAULT["tools"]
    tool_choice: str | FunctionChoice = _DEFAULT["tool_choice"]
    temperature: float = _DEFAULT["temperature"]
    max_output_tokens: int | str = _DEFAULT["max_output_tokens"]
    include: tuple[str, ...] | None = _DEFAULT["include"]

    @classmethod
    def for_transcription(cls, **fields: Any) -> SessionConfig:
        """A transcription session: input format, noise reduction, transcription (whisper-1
        unless given), turn detection and include; no model, no responses."""
        fields.setdefault("transcription", Transcription(model=_F.default("transcription.model")))
        return cls(type="transcription", model=None, **fields)

    @property
    def transcribes_only(self) -> bool:
        """True for a transcription session (no responses, no voice)."""
        return self.type == "transcription"

    def __post_init__(self) -> None:
        for row, normalise in _normalisers():
            object.__setattr__(self, row.name, normalise(row, getattr(self, row.name), self))

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
        if dialect is Dialect.GA:
            return  # canonical values are GA values
        for row in _restrictions(dialect):
            _check_expressible(row, getattr(self, row.name), dialect)

    def to_wire(self, dialect: Dialect) -> dict[str, Any]:
        """The full `session` object of `dialect` (for session.update / session.created), its keys
        in the table's order."""
        self.check_dialect(dialect)
        if self.transcribes_only:
            return render(_F, self, dialect, only=_TRANSCRIPTION_ONLY)
        return render(_F, self, dialect)

    @classmethod
    def from_wire(
        cls, session: Mapping[str, Any], dialect: Dialect, *, session_type: str | None = None
    ) -> SessionConfig:
        """Read a session object a peer reported (session.created / .updated, full or partial).

        Keys left out take our defaults; server-only and unknown keys are ignored, since a peer may
        report fields newer than this package. `session_type`: the kind of session when the object
        does not say (a preview `transcription_session.*` event's session carries no `type`).
        """
        start = cls() if session_type in (None, "realtime") else cls.for_transcription(transcription=None)
        return _apply(start, session, dialect, lenient=True)


# --- normalising on construction: rule kind -> (row, value, config so far) -> canonical value -----------

Normalise = Callable[[Field, Any, SessionConfig], Any]


def _checked(row: Field, value: Any, config: SessionConfig) -> Any:
    return check(row, value)


def _model(row: Field, value: Any, config: SessionConfig) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(row.name, value, "a model or deployment name, or None", code="invalid_type")
    return value


def _transcription(row: Field, value: Any, config: SessionConfig) -> Transcription | None:
    if isinstance(value, Mapping):
        return transcription_from(value, Dialect.GA, _GA_TRANSCRIPTION)
    if value is not None and not isinstance(value, Transcription):
        raise ConfigError(row.name, value, "a Transcription or None", code="invalid_type")
    return value


def _turn_detection(row: Field, value: Any, config: SessionConfig) -> TurnDetection:
    if isinstance(value, Mapping):
        return turn_detection_from(value, Dialect.GA, _GA_TURN_DETECTION)
    if value is not None and not isinstance(value, (ServerVad, SemanticVad)):
        raise ConfigError(row.name, value, "ServerVad, SemanticVad or None", code="invalid_type")
    return value


def _tools(row: Field, value: Any, config: SessionConfig) -> tuple[FunctionTool, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(row.name, value, "a list of function tools", code="invalid_type")
    tools = tuple(tool_from_dict(t, f"tools[{i}]") for i, t in enumerate(value))
    names = [t.name for t in tools]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConfigError(row.name, duplicate, "tool names must be unique")
    return tools


def _tool_choice(row: Field, value: Any, config: SessionConfig) -> str | FunctionChoice:
    choice = tool_choice_from(value, row.name)
    names = [t.name for t in config.tools]  # already normalised: tools come first
    if isinstance(choice, FunctionChoice) and choice.name not in names:
        raise ConfigError(
            row.name, choice.name, "the name of a defined tool: " + (", ".join(names) or "(no tools)")
        )
    return choice


@functools.cache
def _normalisers() -> tuple[tuple[Field, Normalise], ...]:
    """Each field's row and normaliser, in SessionConfig's declaration (= checking) order."""
    rows = (_F.row(f.name) for f in dataclasses.fields(SessionConfig))
    return tuple((row, _NORMALISE.get(type(row.allowed), _checked)) for row in rows)


_NORMALISE: dict[type, Normalise] = {
    ModelName: _model,
    Voice: lambda row, value, config: voice_from(value),
    TranscriptionObject: _transcription,
    TurnDetectionObject: _turn_detection,
    Tools: _tools,
    ToolChoice: _tool_choice,
}


# --- what a dialect can express -----------------------------------------------------------------------


def _restricted(row: Field, dialect: Dialect) -> bool:
    """Whether `dialect` may refuse some canonical value of `row` (or of a field inside it)."""
    rule = row.allowed
    if isinstance(rule, SessionType):
        return False  # preview says the kind by the connection (?intent=) and the event names
    return (
        isinstance(rule, Voice)
        or (isinstance(rule, OneOf) and rule.per_dialect is not None)
        or _F.path(row.name, dialect) is None
        or any(_restricted(child, dialect) for child in _F.children(row.name) if child.key != "type")
    )


@functools.cache
def _restrictions(dialect: Dialect) -> tuple[Field, ...]:
    """The top-level rows `check_dialect` must look at, in SessionConfig's field order."""
    return tuple(row for row, _ in _normalisers() if _restricted(row, dialect))


def _check_expressible(row: Field, value: Any, dialect: Dialect) -> None:
    rule = row.allowed
    if isinstance(value, CustomVoice):
        raise ConfigError(
            row.name, value.to_wire(), "custom voices exist only in GA", param=_F.param(row.name, dialect)
        )
    if isinstance(rule, OneOf) and rule.per_dialect is not None:
        allowed = rule.values_for(dialect)
        if value not in allowed:
            raise ConfigError(
                row.name, value, "one of " + ", ".join(allowed), param=_F.param(row.name, dialect)
            )
    if _F.path(row.name, dialect) is None and value != row.default:
        raise ConfigError(
            row.name,
            value,
            f"{row.default}: {row.key} exists only in GA",
            code="unknown_parameter",
            param=_F.param(row.name, dialect),
        )
    if isinstance(value, (ServerVad, SemanticVad, Transcription)):  # object values: their fields too
        for child in _F.children(row.name):
            if child.key != "type" and hasattr(value, child.key) and _restricted(child, dialect):
                _check_expressible(child, getattr(value, child.key), dialect)


# --- reading partial updates ------------------------------------------------------------------------


_TRANSCRIPTION_ONLY = frozenset(TRANSCRIPTION_SESSION_FIELDS)


def _session_kind(config: SessionConfig, changes: dict[str, Any], dialect: Dialect, lenient: bool) -> None:
    """Hold an update to the session's kind: the type stays the one the session opened with, and a
    transcription session takes only its own fields (checked strictly; a report is read leniently:
    a field a transcription session does not hold is left out)."""
    kind = changes.get("type", config.type)
    if kind != config.type and not lenient:
        raise ConfigError(
            "type",
            kind,
            f"'{config.type}': a session keeps the type it opened with (a transcription session is "
            "opened with ?intent=transcription on the connection URL)",
            param=_F.param("type", dialect),
        )
    if kind != "transcription":
        return
    for name in list(changes):
        if name in _TRANSCRIPTION_ONLY:
            continue
        value = changes.pop(name)
        # preview transcription_session.update carries `modalities` (the beta SDK types it); it
        # has nothing to act on in a session without responses, so it is accepted and dropped
        if lenient or (name == "output_modalities" and dialect is Dialect.PREVIEW):
            continue
        raise ConfigError(
            name,
            value,
            "not a transcription session setting: a transcription session makes no responses and "
            "holds only " + ", ".join(_F.param(n, dialect) for n in TRANSCRIPTION_SESSION_FIELDS[1:]),
            code="unknown_parameter",
            param=_F.param(name, dialect),
        )


def check_same_kind(current: SessionConfig, target: SessionConfig, dialect: Dialect) -> None:
    """Raise the ConfigError the service gives an update from `current` to `target`: a change of
    session type, or (in a transcription session) a change to a field it does not hold. For a
    client that builds whole configs, so nothing silently goes unsent."""
    changes = {
        f.name: getattr(target, f.name)
        for f in dataclasses.fields(target)
        if f.name != "model" and getattr(target, f.name) != getattr(current, f.name)
    }
    _session_kind(current, changes, dialect, lenient=False)


def _apply(config: SessionConfig, session: Any, dialect: Dialect, *, lenient: bool) -> SessionConfig:
    if not isinstance(session, Mapping):
        raise ConfigError("session", session, "a session object", code="invalid_type", param="session")
    changes = collect(_F, session, dialect, lenient=lenient)
    _session_kind(config, changes, dialect, lenient)
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
