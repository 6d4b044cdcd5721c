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

from realtime_nb.protocol.dialect import GA_ONLY, Dialect, canonical_type, wire_type

__all__ = [
    "format_from_ga",
    "format_to_ga",
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

# Preview short format names <-> GA format objects. G.711 objects carry no rate (always 8 kHz).
_FORMAT_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_GA_FORMAT_TYPES: dict[str, str] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}

# Assistant content-part types inside items (content-part *events* keep text/audio in both dialects).
_PART_TO_GA = {"text": "output_text", "audio": "output_audio"}
_PART_TO_PREVIEW = {"output_text": "text", "output_audio": "audio"}

# Session keys that exist only in GA; a preview peer would refuse them, so they are dropped.
_GA_ONLY_SESSION_KEYS = frozenset({"type", "truncation", "prompt", "reasoning", "parallel_tool_calls"})
_GA_ONLY_PARAM_KEYS = frozenset({"prompt", "reasoning", "parallel_tool_calls"})
_PREVIEW_ONLY_KEY = "temperature"


def format_to_ga(fmt: Any) -> Any:
    """`"pcm16"` -> `{"type": "audio/pcm", "rate": 24000}` etc.; anything else unchanged."""
    ga = _FORMAT_TO_GA.get(fmt) if isinstance(fmt, str) else None
    return dict(ga) if ga is not None else fmt


def format_from_ga(fmt: Any) -> Any:
    """`{"type": "audio/pcmu"}` -> `"g711_ulaw"` etc.; a pcm object at another rate, or anything
    unrecognised, is returned unchanged."""
    if not isinstance(fmt, dict):
        return fmt
    short = _GA_FORMAT_TYPES.get(fmt.get("type"))  # type: ignore[arg-type]
    if short is None:
        return fmt
    if short == "pcm16" and fmt.get("rate", 24000) != 24000:
        return fmt
    return short


def _item_with_parts(item: Any, table: dict[str, str]) -> Any:
    """The item with its content-part types renamed by `table`; the same object if none match."""
    if not isinstance(item, dict):
        return item
    content = item.get("content")
    if not isinstance(content, list):
        return item
    new_content = None
    for i, part in enumerate(content):
        new_type = table.get(part.get("type")) if isinstance(part, dict) else None
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


def _items(items: Any, convert: Callable[[Any], Any]) -> Any:
    if not isinstance(items, list):
        return items
    converted = [convert(item) for item in items]
    if all(new is old for new, old in zip(converted, items, strict=True)):
        return items
    return converted


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


def _set_nested(out: dict[str, Any], outer: str, inner: str, key: str, value: Any) -> None:
    out.setdefault(outer, {}).setdefault(inner, {})[key] = value


def session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    """A preview (flat) session object, full or partial, in the GA nested shape.

    Keys absent from the input stay absent (so a partial update stays partial); `type: "realtime"`
    is added because GA requires it on every update. Unknown keys pass through at the top level.
    """
    out: dict[str, Any] = {"type": "realtime"}
    for key, value in session.items():
        if key == "modalities":
            out["output_modalities"] = _modalities_to_ga(value)
        elif key == "voice":
            _set_nested(out, "audio", "output", "voice", value)
        elif key == "speed":
            _set_nested(out, "audio", "output", "speed", value)
        elif key == "input_audio_format":
            _set_nested(out, "audio", "input", "format", format_to_ga(value))
        elif key == "output_audio_format":
            _set_nested(out, "audio", "output", "format", format_to_ga(value))
        elif key == "input_audio_noise_reduction":
            _set_nested(out, "audio", "input", "noise_reduction", value)
        elif key == "input_audio_transcription":
            _set_nested(out, "audio", "input", "transcription", value)
        elif key == "turn_detection":
            _set_nested(out, "audio", "input", "turn_detection", value)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "tool_choice":
            out["tool_choice"] = _tool_choice_to_ga(value)
        else:
            out[key] = value
    return out


_AUDIO_INPUT_TO_PREVIEW = {
    "format": "input_audio_format",
    "noise_reduction": "input_audio_noise_reduction",
    "transcription": "input_audio_transcription",
    "turn_detection": "turn_detection",
}
_AUDIO_OUTPUT_TO_PREVIEW = {"format": "output_audio_format", "voice": "voice", "speed": "speed"}
_AUDIO_TO_PREVIEW = (("input", _AUDIO_INPUT_TO_PREVIEW), ("output", _AUDIO_OUTPUT_TO_PREVIEW))


def session_to_preview(session: dict[str, Any]) -> dict[str, Any]:
    """A GA (nested) session object, full or partial, in the preview flat shape.

    GA-only keys (`type`, `truncation`, `prompt`, `reasoning`, `parallel_tool_calls`, and unknown
    keys under `audio`) are dropped: a preview peer refuses them. Other keys pass through.
    """
    out: dict[str, Any] = {}
    for key, value in session.items():
        if key in _GA_ONLY_SESSION_KEYS:
            continue
        if key == "output_modalities":
            out["modalities"] = _modalities_to_preview(value)
        elif key == "audio" and isinstance(value, dict):
            for direction, names in _AUDIO_TO_PREVIEW:
                section = value.get(direction)
                if not isinstance(section, dict):
                    continue
                for ga_key, preview_key in names.items():
                    if ga_key in section:
                        v = section[ga_key]
                        out[preview_key] = format_from_ga(v) if ga_key == "format" else v
        elif key == "max_output_tokens":
            out["max_response_output_tokens"] = value
        elif key == "tool_choice":
            out["tool_choice"] = _tool_choice_to_preview(value)
        else:
            out[key] = value
    return out


def _response_to_ga(response: Any) -> Any:
    """Preview response object (server) -> GA: output_modalities, audio.output{format, voice}."""
    if not isinstance(response, dict):
        return response
    out: dict[str, Any] = {}
    for key, value in response.items():
        if key == "modalities":
            out["output_modalities"] = _modalities_to_ga(value)
        elif key == "voice":
            _set_nested(out, "audio", "output", "voice", value)
        elif key == "output_audio_format":
            _set_nested(out, "audio", "output", "format", format_to_ga(value))
        elif key == "output":
            out["output"] = _items(value, item_to_ga)
        else:
            out[key] = value
    return out


def _response_to_preview(response: Any, *, params: bool = False) -> Any:
    """GA response object (or response.create params when `params`) -> preview."""
    if not isinstance(response, dict):
        return response
    out: dict[str, Any] = {}
    for key, value in response.items():
        if key == "output_modalities":
            out["modalities"] = _modalities_to_preview(value)
        elif key == "audio" and isinstance(value, dict):
            output = value.get("output")
            if isinstance(output, dict):
                if "voice" in output:
                    out["voice"] = output["voice"]
                if "format" in output:
                    out["output_audio_format"] = format_from_ga(output["format"])
        elif key == "output":
            out["output"] = _items(value, item_to_preview)
        elif params and key == "max_output_tokens":
            out["max_response_output_tokens"] = value
        elif params and key == "tool_choice":
            out["tool_choice"] = _tool_choice_to_preview(value)
        elif params and key == "input":
            out["input"] = _items(value, item_to_preview)
        elif params and key in _GA_ONLY_PARAM_KEYS:
            continue
        else:
            out[key] = value
    return out


def response_params_to_ga(params: Any) -> Any:
    """Preview `response.create.response` options -> GA (names, audio.output, input items)."""
    if not isinstance(params, dict):
        return params
    out = _response_to_ga(params)
    if "max_response_output_tokens" in out:
        out["max_output_tokens"] = out.pop("max_response_output_tokens")
    if "tool_choice" in out:
        out["tool_choice"] = _tool_choice_to_ga(out["tool_choice"])
    if "input" in out:
        out["input"] = _items(out["input"], item_to_ga)
    return out


def response_params_to_preview(params: Any) -> Any:
    """GA `response.create.response` options -> preview; GA-only options are dropped."""
    return _response_to_preview(params, params=True)


def _without_preview_only(obj: Any) -> Any:
    if isinstance(obj, dict) and _PREVIEW_ONLY_KEY in obj:
        return {k: v for k, v in obj.items() if k != _PREVIEW_ONLY_KEY}
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


def _session_event_to_preview(event: Event) -> Event | None:
    session = event.get("session")
    if isinstance(session, dict) and session.get("type") == "transcription":
        return None  # preview spells these transcription_session.*, which we do not speak
    return _with_field("session", lambda s: session_to_preview(s) if isinstance(s, dict) else s)(event)


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
