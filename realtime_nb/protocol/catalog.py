"""Catalogues of every client and server event of both dialects, and the client-event check.

Hand-written facts (field name -> JSON type) so the package works installed; tests hold them
against `shared/protocol/events*.json` and the `openai` SDK unions. Each table line reads
`"name:type name?:type"`: `?` marks an optional field, `|` joins JSON types. `type` (required) and
`event_id` (optional on client events, required on server events) are added for every event.

Left out on purpose: the preview SDK's `transcription_session.update` / `.updated` (OpenAI beta
transcription-only sessions; neither Azure's preview nor our engine speaks them, and GA replaced
them with `session.update` + `session.type: "transcription"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError
from realtime_nb.protocol.limits import MAX_EVENT_ID_CHARS, MAX_ID_CHARS, quote

__all__ = [
    "CLIENT_EVENTS",
    "LEFT_OUT",
    "SERVER_EVENTS",
    "EventSpec",
    "ProtocolIssue",
    "check_client_event",
    "json_types",
]

Direction = Literal["client", "server"]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def json_types(spec: str) -> tuple[type, ...]:
    """Python types for a JSON type spec such as `"string|null"`."""
    out: tuple[type, ...] = ()
    for name in spec.split("|"):
        out += _JSON_TYPES[name]
    return out


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: its required and optional fields and their JSON types (as Python types).

    `type` and `event_id` are included in the field sets. `json` keeps the JSON type spellings
    (`"string|null"`) for messages and comparisons.
    """

    type: str
    direction: Direction
    required: frozenset[str]
    optional: frozenset[str]
    field_types: Mapping[str, tuple[type, ...]]
    json: Mapping[str, str]

    @property
    def fields(self) -> frozenset[str]:
        return self.required | self.optional


_PART = "response_id:string item_id:string output_index:integer content_index:integer"
_CALL = "response_id:string item_id:string output_index:integer call_id:string"

_CLIENT_COMMON: dict[str, str] = {
    "session.update": "session:object",
    "input_audio_buffer.append": "audio:string",
    "input_audio_buffer.commit": "",
    "input_audio_buffer.clear": "",
    "output_audio_buffer.clear": "",  # WebRTC / SIP only
    "conversation.item.retrieve": "item_id:string",
    "conversation.item.truncate": "item_id:string content_index:integer audio_end_ms:integer",
    "conversation.item.delete": "item_id:string",
    "response.create": "response?:object",
    "response.cancel": "response_id?:string",
}

_CLIENT: dict[Dialect, dict[str, str]] = {
    Dialect.PREVIEW: {
        **_CLIENT_COMMON,
        "conversation.item.create": "item:object previous_item_id?:string|null",
    },
    Dialect.GA: {**_CLIENT_COMMON, "conversation.item.create": "item:object previous_item_id?:string"},
}

_SERVER_COMMON: dict[str, str] = {
    "error": "error:object",
    "session.created": "session:object",
    "session.updated": "session:object",
    "conversation.created": "conversation:object",
    "conversation.item.retrieved": "item:object",
    "conversation.item.truncated": "item_id:string content_index:integer audio_end_ms:integer",
    "conversation.item.deleted": "item_id:string",
    "conversation.item.input_audio_transcription.failed": "item_id:string content_index:integer error:object",
    "input_audio_buffer.cleared": "",
    "input_audio_buffer.speech_started": "audio_start_ms:integer item_id:string",
    "input_audio_buffer.speech_stopped": "audio_end_ms:integer item_id:string",
    "output_audio_buffer.started": "response_id:string",  # WebRTC / SIP only (three events)
    "output_audio_buffer.stopped": "response_id:string",
    "output_audio_buffer.cleared": "response_id:string",
    "rate_limits.updated": "rate_limits:array",
    "response.created": "response:object",
    "response.done": "response:object",
    "response.output_item.added": "response_id:string output_index:integer item:object",
    "response.output_item.done": "response_id:string output_index:integer item:object",
    "response.content_part.added": f"{_PART} part:object",
    "response.content_part.done": f"{_PART} part:object",
    "response.function_call_arguments.delta": f"{_CALL} delta:string",
}

_SERVER_PREVIEW: dict[str, str] = {
    **_SERVER_COMMON,
    "conversation.item.created": "previous_item_id:string|null item:object",
    "conversation.item.input_audio_transcription.completed": (
        "item_id:string content_index:integer transcript:string logprobs?:array|null usage?:object"
    ),
    "conversation.item.input_audio_transcription.delta": (
        "item_id:string content_index?:integer delta:string logprobs?:array|null"
    ),
    "input_audio_buffer.committed": "previous_item_id:string|null item_id:string",
    "response.text.delta": f"{_PART} delta:string",
    "response.text.done": f"{_PART} text:string",
    "response.audio_transcript.delta": f"{_PART} delta:string",
    "response.audio_transcript.done": f"{_PART} transcript:string",
    "response.audio.delta": f"{_PART} delta:string",
    "response.audio.done": _PART,
    "response.function_call_arguments.done": f"{_CALL} arguments:string name?:string",
}

_SERVER_GA: dict[str, str] = {
    **_SERVER_COMMON,
    # Legacy: in the SDK union, not sent by the GA service (which sends .added then .done).
    "conversation.item.created": "item:object previous_item_id?:string",
    "conversation.item.added": "item:object previous_item_id?:string",
    "conversation.item.done": "item:object previous_item_id?:string",
    "conversation.item.input_audio_transcription.completed": (
        "item_id:string content_index:integer transcript:string usage:object languages?:array logprobs?:array"
    ),
    "conversation.item.input_audio_transcription.delta": (
        "item_id:string content_index?:integer delta?:string logprobs?:array"
    ),
    "conversation.item.input_audio_transcription.segment": (
        "id:string item_id:string content_index:integer text:string speaker:string start:number end:number"
    ),
    "input_audio_buffer.committed": "item_id:string previous_item_id?:string",
    "input_audio_buffer.timeout_triggered": "audio_start_ms:integer audio_end_ms:integer item_id:string",
    "input_audio_buffer.dtmf_event_received": "event:string received_at:integer",  # SIP; no event_id
    "response.output_text.delta": f"{_PART} delta:string",
    "response.output_text.done": f"{_PART} text:string",
    "response.output_audio_transcript.delta": f"{_PART} delta:string",
    "response.output_audio_transcript.done": f"{_PART} transcript:string",
    "response.output_audio.delta": f"{_PART} delta:string",
    "response.output_audio.done": _PART,
    "response.function_call_arguments.done": f"{_CALL} arguments:string name:string",
    "mcp_list_tools.in_progress": "item_id:string",
    "mcp_list_tools.completed": "item_id:string",
    "mcp_list_tools.failed": "item_id:string",
    "response.mcp_call_arguments.delta": (
        "response_id:string item_id:string output_index:integer delta:string obfuscation?:string"
    ),
    "response.mcp_call_arguments.done": (
        "response_id:string item_id:string output_index:integer arguments:string"
    ),
    "response.mcp_call.in_progress": "item_id:string output_index:integer",
    "response.mcp_call.completed": "item_id:string output_index:integer",
    "response.mcp_call.failed": "item_id:string output_index:integer",
}

_NO_EVENT_ID = frozenset({"input_audio_buffer.dtmf_event_received"})

# Types in the openai SDK unions that the catalogues leave out, with the reason.
LEFT_OUT: Mapping[Dialect, Mapping[str, str]] = MappingProxyType(
    {
        Dialect.PREVIEW: MappingProxyType(
            {
                "transcription_session.update": "OpenAI beta transcription-only session; not in Azure's "
                "preview, not spoken by realtime_nb (GA: session.update with session.type transcription)",
                "transcription_session.updated": "reply to transcription_session.update (see there)",
            }
        ),
        Dialect.GA: MappingProxyType({}),
    }
)


def _build(event_type: str, direction: Direction, table: str) -> EventSpec:
    fields: dict[str, tuple[str, bool]] = {"type": ("string", True)}
    if event_type not in _NO_EVENT_ID:
        fields["event_id"] = ("string", direction == "server")
    for token in table.split():
        name, spec = token.split(":")
        optional = name.endswith("?")
        fields[name.rstrip("?")] = (spec, not optional)
    return EventSpec(
        type=event_type,
        direction=direction,
        required=frozenset(n for n, (_, req) in fields.items() if req),
        optional=frozenset(n for n, (_, req) in fields.items() if not req),
        field_types=MappingProxyType({n: json_types(spec) for n, (spec, _) in fields.items()}),
        json=MappingProxyType({n: spec for n, (spec, _) in fields.items()}),
    )


def _catalogue(tables: Mapping[Dialect, Mapping[str, str]], direction: Direction) -> Any:
    return MappingProxyType(
        {
            dialect: MappingProxyType({t: _build(t, direction, spec) for t, spec in table.items()})
            for dialect, table in tables.items()
        }
    )


CLIENT_EVENTS: Mapping[Dialect, Mapping[str, EventSpec]] = _catalogue(_CLIENT, "client")
SERVER_EVENTS: Mapping[Dialect, Mapping[str, EventSpec]] = _catalogue(
    {Dialect.PREVIEW: _SERVER_PREVIEW, Dialect.GA: _SERVER_GA}, "server"
)


# --- the client-event check ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProtocolIssue:
    """Why a client event is refused, in the terms of the service's `error` event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None

    @classmethod
    def from_config_error(cls, err: ConfigError, event_id: str | None = None) -> ProtocolIssue:
        """The issue for a refused session.update (engine side of `apply_session_update`)."""
        return cls(err.code, err.message, err.param, event_id)

    def error_object(self) -> dict[str, Any]:
        """The `error` member of a server `error` event."""
        return {
            "type": "invalid_request_error",
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": self.event_id,
        }


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), type(value).__name__)


# Per dialect, type -> (field types, required) precomputed for the hot path.
_CHECK: dict[Dialect, dict[str, tuple[Mapping[str, tuple[type, ...]], frozenset[str]]]] = {
    d: {t: (spec.field_types, spec.required) for t, spec in specs.items()}
    for d, specs in CLIENT_EVENTS.items()
}


def check_client_event(event: Any, dialect: Dialect) -> ProtocolIssue | None:
    """None if `event` is a well-formed client event of `dialect`, else the first problem found.

    Checks the envelope only (type, required fields, JSON types, unknown top-level keys); the
    contents of `session` / `response` / `item` are checked by their consumers (`config`, engine).
    """
    if not isinstance(event, dict):
        return ProtocolIssue(
            "invalid_type", f"A client event must be a JSON object, not {_json_name(event)}."
        )
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        return ProtocolIssue(
            "invalid_type", f"event_id must be a string, not {_json_name(event_id)}.", "event_id"
        )
    if event_id is not None and len(event_id) > MAX_EVENT_ID_CHARS:
        return _too_long("event_id", event_id, MAX_EVENT_ID_CHARS, None)
    if "type" not in event:
        return ProtocolIssue(
            "missing_required_parameter", "Missing required parameter 'type'.", "type", event_id
        )
    event_type = event["type"]
    entry = _CHECK[dialect].get(event_type) if isinstance(event_type, str) else None
    if entry is None:
        if not isinstance(event_type, str):
            return ProtocolIssue(
                "invalid_type", f"type must be a string, not {_json_name(event_type)}.", "type", event_id
            )
        return ProtocolIssue(
            "invalid_value",
            f"Invalid value {quote(event_type)} for 'type'; {dialect} client events are: "
            + ", ".join(sorted(_CHECK[dialect])),
            "type",
            event_id,
        )
    types, required = entry
    for key, value in event.items():
        allowed = types.get(key)
        if allowed is None:
            return ProtocolIssue(
                "unknown_parameter",
                f"Unknown parameter {quote(key)} in {event_type}; it takes " + ", ".join(sorted(types)) + ".",
                _param_key(key),
                event_id,
            )
        if not isinstance(value, allowed) or (value.__class__ is bool and bool not in allowed):
            expected = CLIENT_EVENTS[dialect][event_type].json[key].replace("|", " or ")
            return ProtocolIssue(
                "invalid_type",
                f"Invalid type for {key!r} in {event_type}: expected {expected}, got {_json_name(value)}.",
                key,
                event_id,
            )
        limit = _ID_LIMITS.get(key)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            return _too_long(key, value, limit, event_id)
    if len(required) > 1 and not required <= event.keys():
        missing = sorted(required - event.keys())[0]
        return ProtocolIssue(
            "missing_required_parameter",
            f"Missing required parameter {missing!r} in {event_type}.",
            missing,
            event_id,
        )
    return None


# String members of client events that hold ids (the `audio` of an append has its own limit, checked
# with its decoding; `type` must be one of the catalogue's names anyway).
_ID_LIMITS: dict[str, int] = {
    "item_id": MAX_ID_CHARS,
    "previous_item_id": MAX_ID_CHARS,
    "response_id": MAX_ID_CHARS,
}


def _too_long(key: str, value: str, limit: int, event_id: str | None) -> ProtocolIssue:
    return ProtocolIssue(
        "string_above_max_length",
        f"Invalid {key!r}: string too long ({len(value)} characters, starting {quote(value, 40)}); "
        f"the maximum is {limit}.",
        key,
        event_id,
    )


def _param_key(key: str) -> str:
    """A client's key as the error's `param`: cut, so an absurd key does not come back whole."""
    return key if len(key) <= MAX_ID_CHARS else key[:MAX_ID_CHARS] + "..."
