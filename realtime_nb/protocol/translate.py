"""Whole-event translation between a wire dialect and the canonical (GA) vocabulary.

`to_canonical` and `to_wire` never mutate their input. The result may share unchanged sub-objects
with the input (and is the input itself when nothing needs to change), so treat both as read-only.
That sharing is deliberate: the timeline canonicalises every event, and most events (deltas,
speech_started, ...) need no change at all, so they cost one dict lookup.

Canonical = the GA shape, plus the few preview-only keys GA cannot express (`temperature` on
sessions, responses and response.create params), kept so a preview -> canonical -> preview round
trip is lossless; `to_wire(..., GA)` drops them. Values this module does not recognise (an unknown
audio format, a tool_choice of another shape) pass through unchanged: translation is not
validation (see `check_client_event` and `config`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtime_nb.protocol.dialect import (
    GA_ONLY,
    PREVIEW_TRANSCRIPTION_SESSION,
    Dialect,
    canonical_type,
    wire_type,
)
from realtime_nb.protocol.fields import RESPONSE_FIELDS, RESPONSE_OBJECT_FIELDS, SESSION_FIELDS, FieldTable
from realtime_nb.protocol.shapes import SAME, Shape, item_to_ga, item_to_preview

__all__ = [
    "item_to_ga",
    "item_to_preview",
    "response_params_to_ga",
    "response_params_to_preview",
    "session_to_ga",
    "session_to_preview",
    "to_canonical",
    "to_wire",
]

Event = dict[str, Any]


def _set_path(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        out = out.setdefault(key, {})
    out[path[-1]] = value


class _ObjectTranslation:
    """Preview <-> GA for a flat-vs-nested object (a session, response.create's options), derived
    from its field table. Keys the table does not know pass through (top level only)."""

    def __init__(self, table: FieldTable) -> None:
        # preview key -> (GA path, shape), for the fields whose key or value shape differs
        self.to_ga: dict[str, tuple[tuple[str, ...], Shape]] = {}
        # GA top-level key -> [(GA path below it, preview key, shape)] for fields spelled differently
        self.to_preview: dict[str, list[tuple[tuple[str, ...], str, Shape]]] = {}
        for row in table.top_level():
            ga, preview = table.path(row.name, Dialect.GA), table.path(row.name, Dialect.PREVIEW)
            if ga is None or preview is None or (ga == preview and row.shape is SAME):
                continue
            self.to_ga[preview] = (tuple(ga.split(".")), row.shape)
            head, *rest = ga.split(".")
            self.to_preview.setdefault(head, []).append((tuple(rest), preview, row.shape))
        # GA keys a preview peer would refuse: GA-only fields and the SDK's unmodelled GA keys.
        self.ga_only = frozenset(
            path
            for row in table.top_level()
            if table.path(row.name, Dialect.PREVIEW) is None
            and (path := table.path(row.name, Dialect.GA)) is not None
            and "." not in path
        ) | (table.unmodelled(Dialect.GA) - table.unmodelled(Dialect.PREVIEW))

    def ga(self, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        for key, value in obj.items():
            moved = self.to_ga.get(key)
            if moved is None:
                out[key] = value
            else:
                _set_path(out, moved[0], moved[1].to_ga(value))
        return out

    def preview(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key in self.ga_only:
                continue
            moved = self.to_preview.get(key)
            if moved is None or (len(moved[0][0]) > 0 and not isinstance(value, dict)):
                out[key] = value
                continue
            for rest, preview_key, shape in moved:
                found, inner = True, value
                for part in rest:
                    if not isinstance(inner, dict) or part not in inner:
                        found = False
                        break
                    inner = inner[part]
                if found:
                    out[preview_key] = shape.to_preview(inner)
        return out


_SESSION = _ObjectTranslation(SESSION_FIELDS)
_PARAMS = _ObjectTranslation(RESPONSE_FIELDS)
_RESPONSE = _ObjectTranslation(RESPONSE_OBJECT_FIELDS)


def session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    """A preview (flat) session object, full or partial, in the GA nested shape.

    Keys absent from the input stay absent (so a partial update stays partial); `type: "realtime"`
    is added because GA requires it on every update. Unknown keys pass through at the top level.
    """
    return _SESSION.ga(session, {"type": "realtime"})


def session_to_preview(session: dict[str, Any]) -> dict[str, Any]:
    """A GA (nested) session object, full or partial, in the preview flat shape.

    GA-only keys (`type`, `truncation`, `prompt`, `reasoning`, `parallel_tool_calls`, and unknown
    keys under `audio`) are dropped: a preview peer refuses them. Other keys pass through.
    """
    return _SESSION.preview(session)


def _response_to_ga(response: Any) -> Any:
    """Preview response object (server) -> GA: output_modalities, audio.output{format, voice}."""
    return _RESPONSE.ga(response, {}) if isinstance(response, dict) else response


def _response_to_preview(response: Any) -> Any:
    """GA response object (server) -> preview."""
    return _RESPONSE.preview(response) if isinstance(response, dict) else response


def response_params_to_ga(params: Any) -> Any:
    """Preview `response.create.response` options -> GA (names, audio.output, input items)."""
    if not isinstance(params, dict):
        return params
    return _PARAMS.ga(params, {})


def response_params_to_preview(params: Any) -> Any:
    """GA `response.create.response` options -> preview; GA-only options are dropped."""
    if not isinstance(params, dict):
        return params
    return _PARAMS.preview(params)


# Keys canonical objects keep for a lossless preview round trip but GA cannot express.
_PREVIEW_ONLY_KEYS = frozenset(
    path
    for table in (SESSION_FIELDS, RESPONSE_FIELDS)
    for row in table.top_level()
    if table.path(row.name, Dialect.GA) is None and (path := table.path(row.name, Dialect.PREVIEW))
)


def _without_preview_only(obj: Any) -> Any:
    if isinstance(obj, dict) and not _PREVIEW_ONLY_KEYS.isdisjoint(obj):
        return {k: v for k, v in obj.items() if k not in _PREVIEW_ONLY_KEYS}
    return obj


# --- per-event translators ---------------------------------------------------------------------

Translator = Callable[[Event], "Event | None"]


def _renamer(new_type: str) -> Translator:
    return lambda e: {**e, "type": new_type}


def _with_field(name: str, convert: Callable[[Any], Any], new_type: str | None = None) -> Translator:
    def translate(event: Event) -> Event:
        out = {**event, name: convert(event[name])} if name in event else dict(event)
        if new_type is not None:
            out["type"] = new_type
        return out

    return translate


_TRANSCRIPTION_SESSION_OUT = {canonical: wire for wire, canonical in PREVIEW_TRANSCRIPTION_SESSION.items()}


def _session_event_to_preview(event: Event) -> Event | None:
    session = event.get("session")
    out = _with_field("session", lambda s: session_to_preview(s) if isinstance(s, dict) else s)(event)
    if isinstance(session, dict) and session.get("type") == "transcription":
        out["type"] = _TRANSCRIPTION_SESSION_OUT[event["type"]]  # preview: transcription_session.*
    return out


def _transcription_session_to_ga(event: Event) -> Event:
    """A preview `transcription_session.*` event as the GA session event of a transcription session."""
    session = event.get("session")
    out = {**event, "type": PREVIEW_TRANSCRIPTION_SESSION[event["type"]]}
    if isinstance(session, dict):
        out["session"] = _SESSION.ga(session, {"type": "transcription"})
    return out


def _item_created_to_preview(event: Event) -> Event:
    out = {**event, "type": "conversation.item.created", "item": item_to_preview(event.get("item"))}
    out.setdefault("previous_item_id", None)  # required (nullable) in preview, optional in GA
    return out


def _setdefault(name: str, value: Any) -> Translator:
    def translate(event: Event) -> Event:
        if name in event:
            return event
        return {**event, name: value}

    return translate


_SESSION_IN = _with_field("session", lambda s: session_to_ga(s) if isinstance(s, dict) else s)

_PREVIEW_IN: dict[str, Translator] = {
    **{
        preview: _renamer(canonical_type(preview, Dialect.PREVIEW))
        for preview in (
            "response.text.delta",
            "response.text.done",
            "response.audio.delta",
            "response.audio.done",
            "response.audio_transcript.delta",
            "response.audio_transcript.done",
        )
    },
    "conversation.item.created": _with_field("item", item_to_ga, "conversation.item.added"),
    "conversation.item.retrieved": _with_field("item", item_to_ga),
    "conversation.item.create": _with_field("item", item_to_ga),
    "response.output_item.added": _with_field("item", item_to_ga),
    "response.output_item.done": _with_field("item", item_to_ga),
    "session.created": _SESSION_IN,
    "session.updated": _SESSION_IN,
    "session.update": _SESSION_IN,
    **{wire: _transcription_session_to_ga for wire in PREVIEW_TRANSCRIPTION_SESSION},
    "response.created": _with_field("response", _response_to_ga),
    "response.done": _with_field("response", _response_to_ga),
    "response.create": _with_field("response", response_params_to_ga),
}

_GA_IN: dict[str, Translator] = {"conversation.item.created": _renamer("conversation.item.added")}

_PREVIEW_OUT: dict[str, Translator] = {
    **{
        canonical: _renamer(wire)
        for canonical in (
            "response.output_text.delta",
            "response.output_text.done",
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.delta",
            "response.output_audio_transcript.done",
        )
        if (wire := wire_type(canonical, Dialect.PREVIEW)) is not None
    },
    "conversation.item.added": _item_created_to_preview,
    "conversation.item.retrieved": _with_field("item", item_to_preview),
    "conversation.item.create": _with_field("item", item_to_preview),
    "response.output_item.added": _with_field("item", item_to_preview),
    "response.output_item.done": _with_field("item", item_to_preview),
    "session.created": _session_event_to_preview,
    "session.updated": _session_event_to_preview,
    "session.update": _session_event_to_preview,
    "response.created": _with_field("response", _response_to_preview),
    "response.done": _with_field("response", _response_to_preview),
    "response.create": _with_field("response", response_params_to_preview),
    "input_audio_buffer.committed": _setdefault("previous_item_id", None),
    "conversation.item.input_audio_transcription.delta": _setdefault("delta", ""),
}


def _strip(name: str) -> Translator:
    def translate(event: Event) -> Event:
        inner = event.get(name)
        stripped = _without_preview_only(inner)
        return event if stripped is inner else {**event, name: stripped}

    return translate


_GA_OUT: dict[str, Translator] = {
    "session.created": _strip("session"),
    "session.updated": _strip("session"),
    "session.update": _strip("session"),
    "response.created": _strip("response"),
    "response.done": _strip("response"),
    "response.create": _strip("response"),
}

_IN = {Dialect.PREVIEW: _PREVIEW_IN, Dialect.GA: _GA_IN}
_OUT = {Dialect.PREVIEW: _PREVIEW_OUT, Dialect.GA: _GA_OUT}


def _require_event(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise TypeError(f"{where} expects an event dict, got {type(event).__name__}")


def to_canonical(event: Event, dialect: Dialect) -> Event:
    """A wire event (client or server, any dialect) in the canonical GA vocabulary.

    Unknown or missing types pass through unchanged. The input is never mutated; an event that needs
    no change is returned as is (no copy).
    """
    _require_event(event, "to_canonical")
    translate = _IN[dialect].get(event.get("type"))  # type: ignore[arg-type]
    return event if translate is None else translate(event)  # type: ignore[return-value]


def to_wire(event: Event, dialect: Dialect) -> Event | None:
    """A canonical event as sent in `dialect`, or None when that dialect has no such event.

    The inverse of `to_canonical`. The input is never mutated; an event that needs no change is
    returned as is (no copy).
    """
    _require_event(event, "to_wire")
    event_type = event.get("type")
    if dialect is Dialect.PREVIEW and event_type in GA_ONLY:
        return None
    translate = _OUT[dialect].get(event_type)  # type: ignore[arg-type]
    return event if translate is None else translate(event)
