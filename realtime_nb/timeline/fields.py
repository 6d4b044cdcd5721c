"""Pure functions that turn one wire event into the values of one timeline row.

Nothing here touches audio bytes or clocks: `extract` reads ids, indices, audio-clock and error fields
from wherever the protocol puts them, and `clean_payload` makes the JSON-clean, secret-free copy of an
event that the log keeps, handing every base64 audio string to a callback instead of copying it.
Both tolerate anything a peer may send: a field of the wrong type becomes None plus an *issue* text.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from realtime_nb.protocol.redaction import MASK, is_secret

FAMILIES: tuple[str, ...] = (
    "session",
    "input_audio_buffer",
    "conversation",
    "response",
    "transcription",
    "rate_limits",
    "error",
    "problem",
    "other",
)

_FAMILY_BY_HEAD: dict[str, str] = {
    "session": "session",
    "transcription_session": "transcription",
    "input_audio_buffer": "input_audio_buffer",
    "output_audio_buffer": "response",  # WebRTC playout of a response; carries response_id
    "conversation": "conversation",
    "mcp_list_tools": "conversation",
    "response": "response",
    "rate_limits": "rate_limits",
    "error": "error",
    "realtime_nb": "problem",
}

ID_FIELDS: tuple[str, ...] = ("event_id", "item_id", "response_id", "previous_item_id", "call_id")
INT_FIELDS: tuple[str, ...] = ("output_index", "content_index", "audio_start_ms", "audio_end_ms")
ERROR_FIELDS: tuple[str, ...] = ("error_type", "error_code", "error_message", "error_param", "error_event_id")

_INT64_MIN, _INT64_MAX = -(2**63) + 1, 2**63 - 1  # the very lowest value is the store's NA marker

# Events whose `delta` is text (the rest of the delta events carry base64 audio).
TEXT_DELTA_TYPES: frozenset[str] = frozenset(
    {
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "conversation.item.input_audio_transcription.delta",
        "response.function_call_arguments.delta",
        "response.mcp_call_arguments.delta",
    }
)
AUDIO_DELTA_TYPE = "response.output_audio.delta"
APPEND_TYPE = "input_audio_buffer.append"
AUDIO_STREAM_TYPES: frozenset[str] = frozenset({APPEND_TYPE, AUDIO_DELTA_TYPE})
# The streaming ("bulk") events: each carries one chunk of a stream, they come by the hundred and say
# little one by one. The log stores them without a payload, the LiveTimeline draws them as ticks and
# `event_table` folds runs of them into one row. Defined here, not in protocol/, because the log is
# the lowest layer that needs the set (the order checker only needs content-part deltas).
STREAMING_TYPES: frozenset[str] = AUDIO_STREAM_TYPES | TEXT_DELTA_TYPES
# The one text field a finished event carries, so transcripts are a column and not only payload.
_TEXT_FIELD_BY_TYPE: dict[str, str] = {
    "response.output_text.done": "text",
    "response.output_audio_transcript.done": "transcript",
    "conversation.item.input_audio_transcription.completed": "transcript",
    "conversation.item.input_audio_transcription.segment": "text",
    "response.function_call_arguments.done": "arguments",
    "response.mcp_call_arguments.done": "arguments",
}

_MAX_DEPTH = 64


def family_of(canonical: str) -> str:
    """The family column value of a canonical event type (`other` for unknown prefixes)."""
    if canonical.startswith("conversation.item.input_audio_transcription."):
        return "transcription"
    return _FAMILY_BY_HEAD.get(canonical.split(".", 1)[0], "other")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def as_id(value: Any, name: str, issues: list[str]) -> str | None:
    """A string id, or None (plus an issue) for anything else."""
    if value is None or type(value) is str:
        return value
    issues.append(f"{name} is not a string ({_describe(value)})")
    return None


def as_int(value: Any, name: str, issues: list[str]) -> int | None:
    """An int64 (integral floats accepted, bools not), or None plus an issue."""
    if value is None:
        return None
    if type(value) is not int:  # also numpy integers from client code; never bools
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif not isinstance(value, bool) and hasattr(value, "__index__"):
            value = operator.index(value)
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return value
    issues.append(f"{name} is not a 64-bit integer ({_describe(value)})")
    return None


def _dict_or_none(value: Any, name: str, issues: list[str]) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    issues.append(f"{name} is not an object ({_describe(value)})")
    return None


def extract(event: dict, canonical: str) -> tuple[dict[str, Any], list[str]]:
    """Row fields of a (dict) event: ids, indices, audio clock, error and text columns, plus issues."""
    issues: list[str] = []
    out: dict[str, Any] = {name: as_id(event.get(name), name, issues) for name in ID_FIELDS}
    for name in INT_FIELDS:
        out[name] = as_int(event.get(name), name, issues)
    item = _dict_or_none(event.get("item"), "item", issues)
    if item is not None:
        if out["item_id"] is None:
            out["item_id"] = as_id(item.get("id"), "item.id", issues)
        if out["call_id"] is None:
            out["call_id"] = as_id(item.get("call_id"), "item.call_id", issues)
    response = _dict_or_none(event.get("response"), "response", issues)
    if response is not None and out["response_id"] is None:
        out["response_id"] = as_id(response.get("id"), "response.id", issues)
    error = _dict_or_none(event.get("error"), "error", issues)
    if error is None and response is not None:
        # a failed response reports its error inside status_details
        details = response.get("status_details")
        if isinstance(details, dict) and isinstance(details.get("error"), dict):
            error = details["error"]
    if error is not None:
        for key in ("type", "code", "message", "param", "event_id"):
            out["error_" + key] = as_id(error.get(key), "error." + key, issues)
    body = {APPEND_TYPE: "audio", AUDIO_DELTA_TYPE: "delta"}.get(canonical)
    if body is not None and not isinstance(event.get(body), str):
        issues.append(f"{body} is missing or not a base64 string ({_describe(event.get(body))})")
    field = "delta" if canonical in TEXT_DELTA_TYPES else _TEXT_FIELD_BY_TYPE.get(canonical)
    if field is not None:
        out["text"] = as_id(event.get(field), field, issues)
    return out, issues


AudioSink = Callable[[str, "str | None", "str | None"], str]
"""Called with (base64 text, id of the enclosing item, content-part type); returns the placeholder."""


def clean_payload(event: dict, on_audio: AudioSink, issues: list[str], *, audio_delta: bool = False) -> dict:
    """A JSON-clean deep copy of `event` with audio handed to `on_audio` and secrets redacted.

    Every str value under an `audio` key (and the `delta` when `audio_delta`: the event is an output
    audio delta) is replaced by whatever `on_audio` returns. Values that are not JSON (numpy scalars,
    bytes, tuples, ...) are converted so that the copy survives a save/load round trip unchanged.
    """
    out = _clean_dict(event, on_audio, issues, None, 0)
    if audio_delta and isinstance(event.get("delta"), str):
        out["delta"] = on_audio(event["delta"], None, "output_audio")
    return out


def _clean_dict(obj: dict, on_audio: AudioSink, issues: list[str], item_id: str | None, depth: int) -> dict:
    if isinstance(obj.get("id"), str) and ("content" in obj or obj.get("type") == "message"):
        item_id = obj["id"]
    part_type = obj.get("type") if isinstance(obj.get("type"), str) else None
    new: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if isinstance(key, str) else str(key)
        if is_secret(name, value):
            new[name] = MASK
        elif name == "audio" and isinstance(value, str):
            new[name] = on_audio(value, item_id, part_type)
        else:
            new[name] = _clean(value, on_audio, issues, item_id, depth + 1)
    return new


def _clean(value: Any, on_audio: AudioSink, issues: list[str], item_id: str | None, depth: int) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if depth > _MAX_DEPTH:
        issues.append(f"payload nested deeper than {_MAX_DEPTH} levels; the rest was dropped")
        return "<too deep>"
    if isinstance(value, dict):
        return _clean_dict(value, on_audio, issues, item_id, depth)
    if isinstance(value, list | tuple):
        return [_clean(v, on_audio, issues, item_id, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    for plain_type in (bool, int, float, str):  # subclasses such as IntEnum / StrEnum
        if isinstance(value, plain_type):
            return plain_type(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            plain = item()
        except (TypeError, ValueError):
            plain = None
        if plain is None or type(plain) in (str, int, float, bool):
            return plain
    issues.append(f"value of type {type(value).__name__} is not JSON; kept as its repr")
    return repr(value)[:200]
