"""A loopback Realtime server that plays the event sequences of shared/protocol/sequences*.md.

It is a *scripted* peer, not an engine: it keeps just enough state (session object, input buffer,
items, one active response) to answer each client event in the order and shape the services use,
in either dialect. Tests drive the rest by hand: `vad_turn()`, `send()` (e.g. an unknown event
type), `send_raw()` (malformed JSON), `drop()` (abrupt close), `close()`, and the hostile ones:
`stop_reading()` (a stalled server), `flood()`, `send_first_fragment()` (a message cut by a close).

Every client frame it receives is validated against the official SDK's client-event union of its
dialect (`openai.types.realtime.RealtimeClientEvent` for GA, `openai.types.beta.realtime.RealtimeClientEvent`
for preview), strictly: a key the SDK model does not declare counts as a failure too. Failures are
collected in `invalid`; the `scripted_peer` fixtures assert it is empty. Events the peer emits on
its own are validated against the SDK's server union, so the script itself stays honest.

It deliberately does not reuse realtime_nb.protocol (names, shapes): the client's translation is
what is under test, so the peer spells both dialects out itself.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np
import openai.types.beta.realtime as beta_types
import openai.types.realtime as ga_types
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Event = dict[str, Any]

_CLIENT_UNION = {
    "ga": TypeAdapter(ga_types.RealtimeClientEvent),
    "preview": TypeAdapter(beta_types.RealtimeClientEvent),
}
_SERVER_UNION = {
    "ga": TypeAdapter(ga_types.RealtimeServerEvent),
    "preview": TypeAdapter(beta_types.RealtimeServerEvent),
}
# GA name -> preview name, for the events whose name differs (see ga.md §8).
_PREVIEW_NAMES = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
_RATES = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
_GA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def _undeclared_keys(value: Any, path: str) -> list[str]:
    """Keys present in the input but not declared by the SDK model (pydantic keeps them as extras)."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        if value.model_extra:
            found.append(f"{path}: undeclared keys {sorted(value.model_extra)}")
        for name in type(value).model_fields:
            found += _undeclared_keys(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found += _undeclared_keys(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += _undeclared_keys(v, f"{path}.{k}")
    return found


def sdk_problems(event: Any, dialect: str, *, server: bool = False) -> list[str]:
    """Why `event` is not a valid (client or server) event of `dialect` per the openai SDK; [] if it is.

    Client events are held to the SDK strictly (an undeclared key is a problem). Server events only
    have to validate: the services themselves send keys the SDK does not declare (`id`, `object`
    on GA sessions, `obfuscation` on deltas), and so may a realistic script.
    """
    adapter = (_SERVER_UNION if server else _CLIENT_UNION)[dialect]
    try:
        model = adapter.validate_python(event)
    except ValidationError as exc:
        return [str(exc)]
    if server:
        return []
    return _undeclared_keys(model, event.get("type", "event") if isinstance(event, dict) else "event")


@dataclass
class _Item:
    item: Event  # GA-shaped item as the peer holds it (audio parts carry base64 `audio`)
    audio: bytes = b""  # assistant audio produced (for truncate bounds), in the output format


class ScriptedPeer:
    """One loopback server; one client connection at a time (the latest one is `ws`)."""

    def __init__(
        self,
        dialect: str = "ga",
        *,
        token: str | None = None,
        response_text: str = "Hello there, nice to meet you.",
        response_audio_ms: int = 300,
        send_session_created: bool = True,
    ) -> None:
        if dialect not in ("ga", "preview"):
            raise ValueError(f"dialect must be 'ga' or 'preview', got {dialect!r}")
        self.dialect = dialect
        self.token = token
        self.response_text = response_text
        self.response_audio_ms = response_audio_ms
        self.send_session_created = send_session_created
        # True: response.create answers with response.created only (see finish_response).
        self.hold_responses = False
        self.greeting: list[Event] | None = None  # sent (as is) instead of session.created on connect
        self.close_after_greeting: tuple[int, str] | None = None  # then close with (code, reason)
        self.failures: list[BaseException] = []  # bugs in the script itself (the fixtures assert none)
        self.reject: dict[str, tuple[str, str, str | None]] = {}  # client type -> (code, message, param) once
        self.received: list[Event] = []
        self.invalid: list[tuple[str, list[str]]] = []
        self.sent: list[Event] = []
        self.handshakes: list[Request] = []
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()  # set when a client's handshake has completed
        self.url = ""
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._reset_state()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> ScriptedPeer:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check_request, max_size=None, compression=None
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _reset_state(self) -> None:
        self.session: Event = self._initial_session()
        self.buffer = bytearray()
        self.audio_ms_total = 0.0
        self.items: dict[str, _Item] = {}
        self.order: list[str] = []
        self.active: Event | None = None

    def _id(self, prefix: str) -> str:
        return f"{prefix}_peer{next(self._ids):06d}"

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request)
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        self._reset_state()
        try:
            if self.greeting is not None:
                for event in self.greeting:
                    await self.send(event)
                if self.close_after_greeting is not None:
                    await ws.close(*self.close_after_greeting)
                    return
            elif self.send_session_created:
                await self._emit({"type": "session.created", "session": self._session_view()})
                if self.dialect == "preview":
                    conversation = {"id": self._id("conv"), "object": "realtime.conversation"}
                    await self._emit({"type": "conversation.created", "conversation": conversation})
            async for frame in ws:
                await self._on_frame(frame)
        except ConnectionClosed:
            pass  # the client left, or a test dropped the connection
        except Exception as exc:
            self.failures.append(exc)
            raise

    # ---- what tests call ------------------------------------------------------------------------

    async def send(self, event: Event) -> None:
        """Send `event` exactly as given (no validation: unknown types are the point)."""
        assert self.ws is not None
        await self.ws.send(json.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def drop(self) -> None:
        """Abrupt close: the TCP connection goes away without a close frame (code 1006 at the client)."""
        assert self.ws is not None
        self.ws.transport.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        assert self.ws is not None
        await self.ws.close(code, reason)

    def stop_reading(self) -> None:
        """Stall: stop reading the socket, so the client's sends pile up in the TCP buffers."""
        assert self.ws is not None
        self.ws.transport.pause_reading()

    async def send_first_fragment(self, text: str) -> None:
        """Start a fragmented text message and never finish it (then `drop()` or `close()`)."""
        assert self.ws is not None
        self.ws.protocol.send_text(text.encode(), fin=False)
        self.ws.send_data()

    async def flood(self, count: int, event: Event) -> None:
        """Send `event` `count` times as fast as the socket takes them (no validation)."""
        assert self.ws is not None
        text = json.dumps(event)
        for _ in range(count):
            await self.ws.send(text)

    async def wait_received(self, event_type: str, count: int = 1, timeout: float = 5.0) -> list[Event]:
        """Wait until `count` client events of `event_type` arrived; returns them all."""

        def enough() -> bool:
            return sum(e.get("type") == event_type for e in self.received) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout)
        return [e for e in self.received if e.get("type") == event_type]

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.received if e.get("type") == event_type]

    async def vad_turn(self, speech_ms: float | None = None, create_response: bool = True) -> str:
        """Play a server-VAD turn over the buffered audio (sequences §3); returns the user item id."""
        item_id = self._id("item")
        total = self.audio_ms_total
        start = max(0.0, total - (speech_ms if speech_ms is not None else total))
        await self._emit(
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": int(start), "item_id": item_id}
        )
        await self._emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": int(total), "item_id": item_id}
        )
        await self._commit_buffer(item_id)
        if create_response:
            await self._start_response({}, None)
        return item_id

    async def finish_response(self) -> None:
        """With `hold_responses`: stream the held response's body and its response.done."""
        assert self.active is not None, "no held response"
        await self._response_body(self.active, cancelled=None)

    # ---- emitting -------------------------------------------------------------------------------

    def _name(self, ga_type: str) -> str:
        return _PREVIEW_NAMES.get(ga_type, ga_type) if self.dialect == "preview" else ga_type

    async def _emit(self, event: Event) -> None:
        event = {"event_id": self._id("event"), **event, "type": self._name(event["type"])}
        problems = sdk_problems(event, self.dialect, server=True)
        if problems:  # the script itself is wrong: fail loudly in the test that hit it
            raise AssertionError(f"scripted peer built an invalid {event['type']}: {problems}")
        self.sent.append(event)
        assert self.ws is not None
        await self.ws.send(json.dumps(event))

    async def _error(self, code: str, message: str, event_id: str | None, param: str | None = None) -> None:
        await self._emit(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    # ---- session object ---------------------------------------------------------------------------

    def _initial_session(self) -> Event:
        turn = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
        if self.dialect == "ga":
            return {
                "type": "realtime",
                "object": "realtime.session",
                "id": "sess_peer",
                "model": "gpt-realtime",
                "output_modalities": ["audio"],
                "instructions": "You are a scripted peer.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "noise_reduction": None,
                        "transcription": None,
                        "turn_detection": {**turn, "idle_timeout_ms": None},
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "alloy",
                        "speed": 1.0,
                    },
                },
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
            }
        return {
            "id": "sess_peer",
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview",
            "modalities": ["text", "audio"],
            "instructions": "You are a scripted peer.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_noise_reduction": None,
            "input_audio_transcription": None,
            "turn_detection": turn,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }

    def _session_view(self) -> Event:
        return json.loads(json.dumps(self.session))

    def _format(self, direction: str) -> str:
        if self.dialect == "ga":
            fmt = self.session["audio"][direction]["format"]
            return _GA_FORMATS[fmt["type"]]
        return self.session[f"{direction}_audio_format"]

    def _merge_session(self, update: Event) -> None:
        if self.dialect == "preview":
            self.session.update(update)
            return
        for key, value in update.items():
            if key == "audio" and isinstance(value, dict):
                for direction, section in value.items():
                    if isinstance(section, dict):
                        self.session["audio"].setdefault(direction, {}).update(section)
            else:
                self.session[key] = value

    # ---- client events --------------------------------------------------------------------------

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            event = json.loads(frame)
        except (ValueError, TypeError):
            self.invalid.append(("<not JSON>", [repr(frame)[:200]]))
            return
        problems = sdk_problems(event, self.dialect)
        if problems:
            self.invalid.append((str(event.get("type")) if isinstance(event, dict) else "?", problems))
        async with self._changed:
            self.received.append(event)
            self._changed.notify_all()
        if problems or not isinstance(event, dict):
            await self._error(
                "invalid_value",
                "invalid client event",
                event.get("event_id") if isinstance(event, dict) else None,
            )
            return
        kind = event["type"]
        event_id = event.get("event_id")
        if kind in self.reject:
            code, message, param = self.reject.pop(kind)
            await self._error(code, message, event_id, param)
            return
        handler: Callable[[Event, str | None], Any] | None = getattr(
            self, "_on_" + kind.replace(".", "_"), None
        )
        if handler is None:
            await self._error("invalid_value", f"Unsupported event type {kind!r}", event_id, "type")
            return
        await handler(event, event_id)

    async def _on_session_update(self, event: Event, event_id: str | None) -> None:
        update = event["session"]
        if self.dialect == "ga" and "type" not in update:
            await self._error(
                "missing_required_parameter",
                "Missing required parameter: 'session.type'.",
                event_id,
                "session.type",
            )
            return
        self._merge_session(update)
        await self._emit({"type": "session.updated", "session": self._session_view()})

    async def _on_input_audio_buffer_append(self, event: Event, event_id: str | None) -> None:
        data = base64.b64decode(event["audio"])
        self.buffer += data
        fmt = self._format("input")
        self.audio_ms_total += len(data) / (2 if fmt == "pcm16" else 1) / _RATES[fmt] * 1000

    async def _on_input_audio_buffer_commit(self, event: Event, event_id: str | None) -> None:
        fmt = self._format("input")
        if len(self.buffer) / (2 if fmt == "pcm16" else 1) / _RATES[fmt] < 0.1:
            await self._error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio.",
                event_id,
            )
            return
        await self._commit_buffer(self._id("item"))

    async def _commit_buffer(self, item_id: str) -> None:
        previous = self.order[-1] if self.order else None
        audio = base64.b64encode(bytes(self.buffer)).decode("ascii")
        self.buffer = bytearray()
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.items[item_id] = _Item(
            {**item, "content": [{"type": "input_audio", "audio": audio, "transcript": None}]}
        )
        self.order.append(item_id)
        await self._emit(
            {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous}
        )
        await self._item_added(item, previous)

    async def _item_added(self, item: Event, previous: str | None) -> None:
        await self._emit(
            {"type": "conversation.item.added", "item": self._item_view(item), "previous_item_id": previous}
        )
        if self.dialect == "ga":
            await self._emit(
                {
                    "type": "conversation.item.done",
                    "item": self._item_view(item),
                    "previous_item_id": previous,
                }
            )

    def _item_view(self, item: Event) -> Event:
        """The item in this dialect (assistant parts text/audio in preview)."""
        out = json.loads(json.dumps(item))
        if self.dialect == "preview":
            for part in out.get("content", []):
                part["type"] = {"output_text": "text", "output_audio": "audio"}.get(
                    part["type"], part["type"]
                )
        return out

    async def _on_input_audio_buffer_clear(self, event: Event, event_id: str | None) -> None:
        self.buffer = bytearray()
        await self._emit({"type": "input_audio_buffer.cleared"})

    async def _on_output_audio_buffer_clear(self, event: Event, event_id: str | None) -> None:
        await self._emit({"type": "output_audio_buffer.cleared", "response_id": self._id("resp")})

    async def _on_conversation_item_create(self, event: Event, event_id: str | None) -> None:
        item = dict(event["item"])
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and previous not in self.items:
            await self._error(
                "item_not_found", f"Item {previous!r} does not exist.", event_id, "previous_item_id"
            )
            return
        item.setdefault("id", self._id("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        if self.dialect == "preview":  # hold items GA-shaped
            for part in item.get("content", []):
                part["type"] = {"text": "output_text", "audio": "output_audio"}.get(
                    part["type"], part["type"]
                )
        self.items[item["id"]] = _Item(item)
        self.order.append(item["id"])
        shown = {
            **item,
            "content": [{k: v for k, v in p.items() if k != "audio"} for p in item.get("content", [])],
        }
        if "content" not in item:
            shown.pop("content")
        await self._item_added(
            shown, previous if previous is not None else (self.order[-2] if len(self.order) > 1 else None)
        )

    async def _on_conversation_item_retrieve(self, event: Event, event_id: str | None) -> None:
        entry = self.items.get(event["item_id"])
        if entry is None:
            await self._error(
                "item_not_found", f"Item {event['item_id']!r} does not exist.", event_id, "item_id"
            )
            return
        await self._emit({"type": "conversation.item.retrieved", "item": self._item_view(entry.item)})

    async def _on_conversation_item_delete(self, event: Event, event_id: str | None) -> None:
        item_id = event["item_id"]
        if item_id not in self.items:
            await self._error("item_not_found", f"Item {item_id!r} does not exist.", event_id, "item_id")
            return
        del self.items[item_id]
        self.order.remove(item_id)
        await self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_conversation_item_truncate(self, event: Event, event_id: str | None) -> None:
        entry = self.items.get(event["item_id"])
        if entry is None or entry.item.get("role") != "assistant":
            await self._error(
                "invalid_value", "Only assistant messages can be truncated.", event_id, "item_id"
            )
            return
        fmt = self._format("output")
        audio_ms = len(entry.audio) / (2 if fmt == "pcm16" else 1) / _RATES[fmt] * 1000
        if event["audio_end_ms"] > audio_ms:
            await self._error(
                "invalid_value",
                f"Audio content of {audio_ms:.0f}ms is already shorter than {event['audio_end_ms']}ms",
                event_id,
                "audio_end_ms",
            )
            return
        await self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": event["item_id"],
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )

    async def _on_response_create(self, event: Event, event_id: str | None) -> None:
        if self.active is not None:
            await self._error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                event_id,
            )
            return
        await self._start_response(event.get("response") or {}, event_id)

    async def _on_response_cancel(self, event: Event, event_id: str | None) -> None:
        if self.active is None:
            await self._error(
                "response_cancel_not_active", "Cancellation failed: no active response found.", event_id
            )
            return
        await self._response_body(self.active, cancelled="client_cancelled")

    # ---- responses (sequences §4/§5) ----------------------------------------------------------------

    def _modalities(self, options: Event) -> list[str]:
        if self.dialect == "ga":
            return list(options.get("output_modalities") or self.session["output_modalities"])
        return list(options.get("modalities") or self.session["modalities"])

    def _response_object(
        self, response_id: str, status: str, options: Event, output: list[Event], usage: Event | None
    ) -> Event:
        modalities = self._modalities(options)
        obj: Event = {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": output,
            "usage": usage,
            "metadata": options.get("metadata"),
        }
        if self.dialect == "ga":
            obj["output_modalities"] = modalities
            obj["conversation_id"] = "conv_peer"
        else:
            obj["modalities"] = modalities
        return obj

    async def _start_response(self, options: Event, event_id: str | None) -> None:
        response_id = self._id("resp")
        self.active = {"id": response_id, "options": options}
        await self._emit(
            {
                "type": "response.created",
                "response": self._response_object(response_id, "in_progress", options, [], None),
            }
        )
        if not self.hold_responses:
            await self._response_body(self.active, cancelled=None)

    async def _response_body(self, active: Event, cancelled: str | None) -> None:
        response_id, options = active["id"], active["options"]
        in_conversation = options.get("conversation", "auto") != "none"
        modalities = self._modalities(options)
        audio_out = "audio" in modalities
        item_id = self._id("item")
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": self._item_view(item),
            }
        )
        previous = self.order[-1] if self.order else None
        if in_conversation:
            await self._emit(
                {
                    "type": "conversation.item.added",
                    "item": self._item_view(item),
                    "previous_item_id": previous,
                }
            )
        text = self.response_text if cancelled is None else self.response_text[: len(self.response_text) // 2]
        words = text.split(" ")
        audio = b""
        if audio_out:
            await self._emit(
                {"type": "response.content_part.added", **base, "part": {"type": "audio", "transcript": ""}}
            )
            fmt = self._format("output")
            rate = _RATES[fmt]
            n = (
                int(rate * self.response_audio_ms / 1000)
                if cancelled is None
                else int(rate * self.response_audio_ms / 2000)
            )
            tone = (np.sin(2 * np.pi * 440 * np.arange(n) / rate) * 8000).astype("<i2")
            pieces = np.array_split(tone, max(1, len(words)))
            for word, piece in zip(words, pieces, strict=False):
                await self._emit(
                    {"type": "response.output_audio_transcript.delta", **base, "delta": word + " "}
                )
                data = (
                    piece.tobytes() if fmt == "pcm16" else bytes(len(piece))
                )  # G.711: silence bytes, shape only
                audio += data
                await self._emit(
                    {"type": "response.output_audio.delta", **base, "delta": base64.b64encode(data).decode()}
                )
            await self._emit({"type": "response.output_audio.done", **base})
            await self._emit({"type": "response.output_audio_transcript.done", **base, "transcript": text})
            part = {"type": "audio", "transcript": text}
            content = [{"type": "output_audio", "transcript": text}]
        else:
            await self._emit(
                {"type": "response.content_part.added", **base, "part": {"type": "text", "text": ""}}
            )
            for word in words:
                await self._emit({"type": "response.output_text.delta", **base, "delta": word + " "})
            await self._emit({"type": "response.output_text.done", **base, "text": text})
            part = {"type": "text", "text": text}
            content = [{"type": "output_text", "text": text}]
        await self._emit({"type": "response.content_part.done", **base, "part": part})
        status = "completed" if cancelled is None else "incomplete"
        done_item = {**item, "status": status, "content": content}
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": 0,
                "item": self._item_view(done_item),
            }
        )
        if in_conversation:
            if self.dialect == "ga":
                await self._emit(
                    {
                        "type": "conversation.item.done",
                        "item": self._item_view(done_item),
                        "previous_item_id": previous,
                    }
                )
            self.items[item_id] = _Item(done_item, audio)
            self.order.append(item_id)
        usage = {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20}
        final = self._response_object(
            response_id,
            "completed" if cancelled is None else "cancelled",
            options,
            [self._item_view(done_item)],
            usage,
        )
        if cancelled is not None:
            final["status_details"] = {"type": "cancelled", "reason": cancelled}
        self.active = None
        await self._emit({"type": "response.done", "response": final})
        await self._emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06}],
            }
        )


# ---- fixtures: import `peer_fixture` and `session_fixture` into a test module ---------------------------


@pytest.fixture(name="peer", params=["ga", "preview"])
async def peer_fixture(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedPeer]:
    """A scripted peer in each dialect; fails the test if the client sent anything the SDK refuses."""
    async with ScriptedPeer(request.param) as running:
        yield running
    assert not running.failures, f"scripted peer failed: {running.failures!r}"
    assert not running.invalid, f"client events refused by the openai SDK union: {running.invalid}"


@pytest.fixture(name="session")
async def session_fixture(peer: ScriptedPeer) -> AsyncIterator[Any]:
    """A connected RealtimeSession on `peer` (same dialect)."""
    from realtime_nb.client import Endpoint, RealtimeSession

    async with RealtimeSession(Endpoint.local(peer.url, dialect=peer.dialect), timeout=5.0) as s:
        yield s
