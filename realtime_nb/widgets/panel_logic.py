"""The `TuningPanel`'s decision logic, pure (no widgets, no I/O) so it is tested without a kernel.

* `config_from_values` / `decide`: control values + the effective config -> the `SessionConfig` to
  send, or the `ConfigError` that refuses it before anything is sent (built through the protocol
  layer, so the message names the allowed range);
* `values_from_config` / `values_from_updated`: the server's answer (``session.updated``) -> what
  the controls show;
* `visible_controls`: which controls apply to a turn-detection type, dialect and session kind (a
  transcription session makes no responses: the controls that start or stop one are hidden);
* `Debounce`: when a burst of edits becomes one update.

Which controls exist and their defaults come from the protocol's field table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from realtime_nb.protocol import (
    NOISE_REDUCTION_VALUES,
    SESSION_FIELDS,
    TURN_DETECTION_TYPES,
    ConfigError,
    Dialect,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    to_wire,
)

__all__ = [
    "CONTROL_NAMES",
    "NOISE_CHOICES",
    "TURN_TYPES",
    "Debounce",
    "PanelDecision",
    "PanelValues",
    "config_from_updated",
    "config_from_values",
    "decide",
    "describe_config",
    "refusal_message",
    "server_error_message",
    "values_from_config",
    "values_from_updated",
    "visible_controls",
]

# "none" is the menu's name for turn detection off (null on the wire).
TURN_TYPES: tuple[str, ...] = ("none", *TURN_DETECTION_TYPES)
# The protocol's noise-reduction values, with its None ("off" on the wire as null) named for a menu.
NOISE_CHOICES: tuple[str, ...] = tuple(value or "off" for value in NOISE_REDUCTION_VALUES)

# Which control belongs to which setting (the protocol's turn-detection fields, by the types they
# belong to); the shell hides the ones that do not apply.
_TURN_FIELDS = SESSION_FIELDS.children("turn_detection")[1:]  # [0] is the type itself
SERVER_VAD_ONLY = tuple(row.key for row in _TURN_FIELDS if row.kinds == (ServerVad.type,))
SEMANTIC_VAD_ONLY = tuple(row.key for row in _TURN_FIELDS if row.kinds == (SemanticVad.type,))
ANY_VAD = tuple(row.key for row in _TURN_FIELDS if len(row.kinds) > 1)
ALWAYS = ("turn_type", "noise_reduction", "transcription")
# Turn-detection settings that act on responses (start one, cancel one, or start one after an idle
# spell); a transcription session has none, so these are hidden there.
RESPONSE_CONTROLS = ("create_response", "interrupt_response", "idle_timeout_ms")
# In display order.
CONTROL_NAMES: tuple[str, ...] = (
    "turn_type",
    *SERVER_VAD_ONLY,
    *SEMANTIC_VAD_ONLY,
    *ANY_VAD,
    "noise_reduction",
    "transcription",
    "language",
)


# The protocol's defaults, by control name (the session's default turn detection type first).
_DEFAULTS: dict[str, Any] = {row.key: row.default for row in _TURN_FIELDS}
_DEFAULTS["type"] = SESSION_FIELDS.default("turn_detection")["type"]


@dataclass(frozen=True)
class PanelValues:
    """What the controls hold. Values of hidden controls are kept, so switching back restores them.

    ``idle_timeout_ms`` None means off; ``language`` "" means let the transcriber detect it.
    """

    turn_type: str = _DEFAULTS["type"]
    threshold: float = _DEFAULTS["threshold"]
    prefix_padding_ms: int = _DEFAULTS["prefix_padding_ms"]
    silence_duration_ms: int = _DEFAULTS["silence_duration_ms"]
    idle_timeout_ms: int | None = _DEFAULTS["idle_timeout_ms"]
    eagerness: str = _DEFAULTS["eagerness"]
    create_response: bool = _DEFAULTS["create_response"]
    interrupt_response: bool = _DEFAULTS["interrupt_response"]
    noise_reduction: str = "off"
    transcription: bool = False
    language: str = ""

    def replace(self, **changes: Any) -> PanelValues:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown panel value(s) {', '.join(unknown)}; the values are {', '.join(known)}")
        return dataclasses.replace(self, **changes)


def config_from_values(values: PanelValues, base: SessionConfig, dialect: Dialect) -> SessionConfig:
    """The session `base` with the panel's settings applied; raises ConfigError, never half-applies.

    Everything the panel does not own (voice, instructions, tools, the transcription model and
    prompt) is kept from `base`, which should be the effective config the server reported.
    """
    kind = values.turn_type
    turn_detection: ServerVad | SemanticVad | None
    if kind == "none":
        turn_detection = None
    elif kind == "server_vad":
        turn_detection = ServerVad(
            threshold=values.threshold,
            prefix_padding_ms=values.prefix_padding_ms,
            silence_duration_ms=values.silence_duration_ms,
            idle_timeout_ms=values.idle_timeout_ms,
            create_response=values.create_response,
            interrupt_response=values.interrupt_response,
        )
    elif kind == "semantic_vad":
        turn_detection = SemanticVad(
            eagerness=values.eagerness,
            create_response=values.create_response,
            interrupt_response=values.interrupt_response,
        )
    else:
        raise ConfigError("turn_detection.type", kind, "one of " + ", ".join(TURN_TYPES))
    if values.noise_reduction not in NOISE_CHOICES:
        raise ConfigError("noise_reduction", values.noise_reduction, "one of " + ", ".join(NOISE_CHOICES))
    noise = None if values.noise_reduction == "off" else values.noise_reduction
    transcription = None
    if values.transcription:
        kept = base.transcription or Transcription()  # the protocol's default model
        language = values.language.strip() if isinstance(values.language, str) else values.language
        transcription = Transcription(model=kept.model, language=language or None, prompt=kept.prompt)
    target = base.replace(turn_detection=turn_detection, noise_reduction=noise, transcription=transcription)
    target.check_dialect(dialect)
    return target


@dataclass(frozen=True)
class PanelDecision:
    """What to do with the controls' values: send `config`, refuse with `error`, or nothing."""

    config: SessionConfig | None = None
    error: ConfigError | None = None

    @property
    def message(self) -> str:
        return "" if self.error is None else refusal_message(self.error)


def decide(values: PanelValues, effective: SessionConfig, dialect: Dialect) -> PanelDecision:
    """Validate `values` against the protocol; send only when the result differs from `effective`."""
    try:
        target = config_from_values(values, effective, dialect)
    except ConfigError as err:
        return PanelDecision(error=err.in_dialect(dialect))
    return PanelDecision() if target == effective else PanelDecision(config=target)


def refusal_message(err: ConfigError) -> str:
    """Inline text for a value refused before sending: which setting, what was given, what is allowed."""
    name = err.field.rsplit(".", 1)[-1].replace("_", " ")
    return f"Not sent: {name} = {err.value!r} is not allowed (allowed: {err.allowed})."


def server_error_message(err: Any) -> str:
    """Inline text for an update the server refused (`ServerError` or an error event's ``error``)."""
    if isinstance(err, dict):
        code, message, param = err.get("code"), err.get("message"), err.get("param")
    else:
        code, message = getattr(err, "code", None), getattr(err, "message", str(err))
        param = getattr(err, "param", None)
    where = f" ({param})" if param else ""
    return f"The server refused the update: {code or 'error'}: {message}{where}"


def values_from_config(config: SessionConfig, previous: PanelValues | None = None) -> PanelValues:
    """The controls for an effective config. Settings the config does not carry (the threshold
    while semantic_vad is on, the language while transcription is off) keep their `previous` value."""
    prev = previous or PanelValues()
    td = config.turn_detection
    changes: dict[str, Any] = {
        "noise_reduction": config.noise_reduction or "off",
        "transcription": config.transcription is not None,
    }
    if config.transcription is not None:
        changes["language"] = config.transcription.language or ""
    if td is None:
        changes["turn_type"] = "none"
    else:
        changes.update(
            turn_type=td.type, create_response=td.create_response, interrupt_response=td.interrupt_response
        )
        if isinstance(td, ServerVad):
            changes.update(
                threshold=td.threshold,
                prefix_padding_ms=td.prefix_padding_ms,
                silence_duration_ms=td.silence_duration_ms,
                idle_timeout_ms=td.idle_timeout_ms,
            )
        else:
            changes["eagerness"] = td.eagerness
    return prev.replace(**changes)


def config_from_updated(event: dict[str, Any]) -> SessionConfig:
    """The effective config of a canonical ``session.updated`` / ``session.created`` event.

    Canonical events carry the GA shape plus what only preview says (``temperature``); the event is
    read as GA sends it, which drops those (the panel does not show them). Raises ConfigError if the
    session cannot be read.
    """
    session = event.get("session")
    if not isinstance(session, dict):
        raise ConfigError("session", session, "a session object", code="invalid_type", param="session")
    as_ga = to_wire({"type": "session.updated", "session": session}, Dialect.GA)
    assert as_ga is not None  # every canonical event exists in GA
    return SessionConfig.from_wire(as_ga["session"], Dialect.GA)


def values_from_updated(event: dict[str, Any], previous: PanelValues | None = None) -> PanelValues:
    """The controls for the server's answer (a canonical ``session.updated`` event)."""
    return values_from_config(config_from_updated(event), previous)


def visible_controls(
    turn_type: str, transcription: bool, dialect: Dialect, *, transcribes_only: bool = False
) -> frozenset[str]:
    """The controls that apply: VAD settings of the chosen type only, idle timeout in GA only,
    the language only while transcription is on; in a transcription session (`transcribes_only`)
    none of the response controls."""
    shown = set(ALWAYS)
    if turn_type == "server_vad":
        shown.update(SERVER_VAD_ONLY, ANY_VAD)
        shown.difference_update(  # what the dialect lacks (preview: idle_timeout_ms)
            row.key for row in _TURN_FIELDS if SESSION_FIELDS.path(row.name, dialect) is None
        )
    elif turn_type == "semantic_vad":
        shown.update(SEMANTIC_VAD_ONLY, ANY_VAD)
    if transcription:
        shown.add("language")
    if transcribes_only:
        shown.difference_update(RESPONSE_CONTROLS)
    return frozenset(shown)


def describe_config(config: SessionConfig | None) -> str:
    """One line of the effective settings, as the server reported them."""
    if config is None:
        return "no session.updated yet"
    td = config.turn_detection
    if td is None:
        parts = ["turn detection off"]
    elif isinstance(td, ServerVad):
        idle = "off" if td.idle_timeout_ms is None else f"{td.idle_timeout_ms} ms"
        parts = [
            f"server_vad threshold {td.threshold:g}",
            f"prefix {td.prefix_padding_ms} ms",
            f"silence {td.silence_duration_ms} ms",
            f"idle {idle}",
        ]
    else:
        parts = [f"semantic_vad eagerness {td.eagerness}"]
    if config.transcribes_only:
        parts.insert(0, "transcription session")
        if isinstance(td, ServerVad):  # idle timeout starts a response: not shown
            parts = [p for p in parts if not p.startswith("idle ")]
    elif td is not None:
        parts.append(f"create_response {'on' if td.create_response else 'off'}")
        parts.append(f"interrupt_response {'on' if td.interrupt_response else 'off'}")
    parts.append(f"noise reduction {config.noise_reduction or 'off'}")
    tr = config.transcription
    parts.append("transcription off" if tr is None else f"transcription {tr.model} ({tr.language or 'auto'})")
    return " · ".join(parts)


class Debounce:
    """When a burst of edits is sent: `delay_s` after the last edit, and never while an update is in
    flight (edits made meanwhile go out in the next update, built on the server's answer)."""

    def __init__(self, delay_s: float) -> None:
        if (
            isinstance(delay_s, bool)
            or not isinstance(delay_s, int | float)
            or not (math.isfinite(delay_s) and delay_s >= 0)
        ):
            raise ValueError(f"debounce must be a number of seconds >= 0, got {delay_s!r}")
        self.delay_s = float(delay_s)
        self.deadline: float | None = None  # set while edits wait to be sent
        self.in_flight = False

    @property
    def idle(self) -> bool:
        return self.deadline is None and not self.in_flight

    def touch(self, now: float) -> float:
        """An edit at `now`; returns when it is due."""
        self.deadline = now + self.delay_s
        return self.deadline

    def due(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline and not self.in_flight

    def start(self) -> None:
        """The pending edits are being sent (or refused) now."""
        self.deadline = None
        self.in_flight = True

    def finish(self) -> bool:
        """The update was answered; returns True when newer edits are waiting."""
        self.in_flight = False
        return self.deadline is not None

    def cancel(self) -> None:
        self.deadline = None
