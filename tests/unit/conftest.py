"""Shared fixtures for the unit tests: the shared protocol briefs, SDK validators, sample events.

The sample events are shaped like captured traffic of each dialect (ids, usage, nested items), so
translation and validation are exercised on what peers really send, not on minimal stubs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_nb.protocol import Dialect, EventSpec, SessionConfig

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PROTOCOL_FILES = {Dialect.PREVIEW: "events.json", Dialect.GA: "events-ga.json"}


@pytest.fixture(scope="session")
def protocol_json() -> Callable[[Dialect], dict[str, Any]]:
    """Loader for the machine-readable catalogues in shared/protocol (skips when absent)."""

    def load(dialect: Dialect) -> dict[str, Any]:
        path = SHARED / "protocol" / PROTOCOL_FILES[dialect]
        if not path.exists():
            pytest.skip(f"{path} is absent: the shared protocol briefs sit beside the repository checkout")
        return json.loads(path.read_text())

    return load


@pytest.fixture(scope="session")
def sdk_adapters() -> dict[tuple[Dialect, str], Any]:
    """pydantic TypeAdapters of the openai SDK unions: (dialect, "client" | "server") -> adapter."""
    pydantic = pytest.importorskip("pydantic")
    ga = pytest.importorskip("openai.types.realtime")
    beta = pytest.importorskip("openai.types.beta.realtime")
    return {
        (Dialect.GA, "client"): pydantic.TypeAdapter(ga.RealtimeClientEvent),
        (Dialect.GA, "server"): pydantic.TypeAdapter(ga.RealtimeServerEvent),
        (Dialect.PREVIEW, "client"): pydantic.TypeAdapter(beta.RealtimeClientEvent),
        (Dialect.PREVIEW, "server"): pydantic.TypeAdapter(beta.RealtimeServerEvent),
    }


_USAGE = {
    "total_tokens": 82,
    "input_tokens": 5,
    "output_tokens": 77,
    "input_token_details": {"cached_tokens": 0, "text_tokens": 5, "audio_tokens": 0},
    "output_token_details": {"text_tokens": 21, "audio_tokens": 56},
}


def preview_samples() -> list[dict[str, Any]]:
    """Preview (beta / Azure 2025-04) events as the service and a client send them."""
    session = {
        "id": "sess_C1a2b3",
        "object": "realtime.session",
        "model": "gpt-4o-realtime-preview-2025-06-03",
        "expires_at": 1760000000,
        "modalities": ["text", "audio"],
        "instructions": "Be brief.",
        "voice": "verse",
        "input_audio_format": "pcm16",
        "output_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": "names"},
        "input_audio_noise_reduction": {"type": "near_field"},
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.6,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        },
        "tools": [
            {
                "type": "function",
                "name": "get_time",
                "description": "Current time",
                "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
            }
        ],
        "tool_choice": "auto",
        "temperature": 0.7,
        "max_response_output_tokens": 512,
        "client_secret": None,
        "speed": 1.1,
    }
    assistant_done = {
        "id": "item_A1",
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "audio", "transcript": "It is noon."}],
    }
    call = {
        "id": "item_F1",
        "object": "realtime.item",
        "type": "function_call",
        "status": "completed",
        "name": "get_time",
        "call_id": "call_1",
        "arguments": '{"tz": "UTC"}',
    }
    response = {
        "object": "realtime.response",
        "id": "resp_1",
        "status": "completed",
        "status_details": None,
        "output": [assistant_done, call],
        "conversation_id": "conv_1",
        "modalities": ["text", "audio"],
        "voice": "verse",
        "output_audio_format": "g711_ulaw",
        "temperature": 0.7,
        "max_output_tokens": "inf",
        "metadata": None,
        "usage": _USAGE,
    }
    part = {"response_id": "resp_1", "item_id": "item_A1", "output_index": 0, "content_index": 0}
    return [
        {"type": "session.created", "event_id": "event_1", "session": session},
        {"type": "session.updated", "event_id": "event_2", "session": {**session, "turn_detection": None}},
        {
            "type": "conversation.item.created",
            "event_id": "event_3",
            "previous_item_id": None,
            "item": {
                "id": "item_U1",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        },
        {
            "type": "conversation.item.created",
            "event_id": "event_4",
            "previous_item_id": "item_U1",
            "item": {**assistant_done, "status": "in_progress", "content": []},
        },
        {
            "type": "conversation.item.retrieved",
            "event_id": "event_5",
            "item": {
                "id": "item_U1",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "audio": "AAAA", "transcript": "what time is it"}],
            },
        },
        {
            "type": "response.created",
            "event_id": "event_6",
            "response": {**response, "status": "in_progress", "output": [], "usage": None},
        },
        {
            "type": "response.output_item.added",
            "event_id": "event_7",
            "response_id": "resp_1",
            "output_index": 0,
            "item": {**assistant_done, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "event_id": "event_8",
            **part,
            "part": {"type": "audio", "transcript": ""},
        },
        {"type": "response.audio.delta", "event_id": "event_9", **part, "delta": "AAAA"},
        {"type": "response.audio_transcript.delta", "event_id": "event_10", **part, "delta": "It is"},
        {"type": "response.audio.done", "event_id": "event_11", **part},
        {
            "type": "response.audio_transcript.done",
            "event_id": "event_12",
            **part,
            "transcript": "It is noon.",
        },
        {"type": "response.text.delta", "event_id": "event_13", **part, "delta": "It"},
        {"type": "response.text.done", "event_id": "event_14", **part, "text": "It is noon."},
        {
            "type": "response.content_part.done",
            "event_id": "event_15",
            **part,
            "part": {"type": "audio", "transcript": "It is noon."},
        },
        {
            "type": "response.output_item.done",
            "event_id": "event_16",
            "response_id": "resp_1",
            "output_index": 0,
            "item": {**assistant_done, "content": [{"type": "text", "text": "It is noon."}]},
        },
        {"type": "response.done", "event_id": "event_17", "response": response},
        {
            "type": "input_audio_buffer.speech_started",
            "event_id": "event_18",
            "audio_start_ms": 1200,
            "item_id": "item_U2",
        },
        {
            "type": "input_audio_buffer.committed",
            "event_id": "event_19",
            "previous_item_id": "item_A1",
            "item_id": "item_U2",
        },
        {
            "type": "rate_limits.updated",
            "event_id": "event_20",
            "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06}],
        },
        # client events
        {
            "type": "session.update",
            "event_id": "c1",
            "session": {
                "modalities": ["text"],
                "turn_detection": None,
                "temperature": 1.0,
                "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            },
        },
        {
            "type": "conversation.item.create",
            "event_id": "c2",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "Earlier reply"}],
            },
        },
        {
            "type": "response.create",
            "event_id": "c3",
            "response": {
                "modalities": ["text", "audio"],
                "voice": "ash",
                "output_audio_format": "pcm16",
                "temperature": 0.9,
                "max_response_output_tokens": 200,
                "conversation": "none",
                "metadata": {"topic": "time"},
                "instructions": "Answer in French.",
                "input": [
                    {"type": "item_reference", "id": "item_U1"},
                    {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
                ],
            },
        },
    ]


def ga_samples(config: SessionConfig | None = None) -> list[dict[str, Any]]:
    """Canonical (GA) events as the engine would emit them, plus client events."""
    config = config or SessionConfig(
        model="gpt-realtime",
        voice="marin",
        transcription={"model": "gpt-4o-transcribe", "language": "de"},
        noise_reduction="far_field",
        turn_detection={"type": "semantic_vad", "eagerness": "low"},
        tools=[{"type": "function", "name": "get_time", "parameters": {"type": "object"}}],
    )
    session = {**config.to_wire(Dialect.GA), "id": "sess_1", "object": "realtime.session", "expires_at": 1}
    assistant = {
        "id": "item_A1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "Hallo."}],
    }
    part = {"response_id": "resp_1", "item_id": "item_A1", "output_index": 0, "content_index": 0}
    response = {
        "object": "realtime.response",
        "id": "resp_1",
        "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "turn_detected"},
        "output": [assistant],
        "conversation_id": "conv_1",
        "output_modalities": ["audio"],
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "max_output_tokens": "inf",
        "usage": _USAGE,
    }
    return [
        {"type": "session.created", "event_id": "event_1", "session": session},
        {
            "type": "conversation.item.added",
            "event_id": "event_2",
            "previous_item_id": None,
            "item": {**assistant, "status": "in_progress", "content": []},
        },
        {
            "type": "conversation.item.done",
            "event_id": "event_3",
            "previous_item_id": None,
            "item": assistant,
        },
        {
            "type": "response.output_item.done",
            "event_id": "event_4",
            "response_id": "resp_1",
            "output_index": 0,
            "item": assistant,
        },
        {"type": "response.output_audio.delta", "event_id": "event_5", **part, "delta": "AAAA"},
        {
            "type": "response.output_audio_transcript.done",
            "event_id": "event_6",
            **part,
            "transcript": "Hallo.",
        },
        {"type": "response.output_text.delta", "event_id": "event_7", **part, "delta": "Hal"},
        {
            "type": "response.function_call_arguments.done",
            "event_id": "event_8",
            "response_id": "resp_1",
            "item_id": "item_F1",
            "output_index": 1,
            "call_id": "call_1",
            "arguments": "{}",
            "name": "get_time",
        },
        {"type": "input_audio_buffer.committed", "event_id": "event_9", "item_id": "item_U1"},
        {
            "type": "input_audio_buffer.timeout_triggered",
            "event_id": "event_10",
            "audio_start_ms": 0,
            "audio_end_ms": 5000,
            "item_id": "item_U3",
        },
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "event_11",
            "item_id": "item_U1",
            "content_index": 0,
            "transcript": "hallo",
            "usage": {"type": "duration", "seconds": 1.2},
        },
        {"type": "response.done", "event_id": "event_12", "response": response},
        {
            "type": "error",
            "event_id": "event_13",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "bad",
                "param": "type",
                "event_id": "c9",
            },
        },
    ]


@pytest.fixture
def preview_events() -> list[dict[str, Any]]:
    return copy.deepcopy(preview_samples())


@pytest.fixture
def ga_events() -> list[dict[str, Any]]:
    return copy.deepcopy(ga_samples())


@pytest.fixture
def ga_events_for() -> Callable[[SessionConfig], list[dict[str, Any]]]:
    """Canonical sample events whose session.created renders the given config."""
    return ga_samples


_SAMPLE = {
    "string": "x",
    "integer": 3,
    "number": 0.5,
    "object": {},
    "array": [],
    "boolean": True,
    "null": None,
}


def minimal(spec: EventSpec, *, full: bool = False) -> dict[str, Any]:
    """A valid instance of `spec`: every required field (and every optional one when `full`)."""
    names = spec.fields if full else spec.required
    event = {name: _SAMPLE[spec.json[name].split("|")[0]] for name in sorted(names)}
    event["type"] = spec.type
    return event


@pytest.fixture(scope="session")
def minimal_event() -> Callable[..., dict[str, Any]]:
    """Builds a minimal (or, with full=True, complete) valid instance of a catalogued event."""
    return minimal
