"""The transport seam: a RealtimeSession runs unchanged over any `Transport`, here one held in memory.

No socket and no engine: the test plays the peer through the transport's two queues, which is what a
WebRTC data channel will have to provide to the same session core.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime_nb.client import (
    CONNECTION_CLOSED_EVENT,
    PROTOCOL_ERROR_EVENT,
    ConnectionClosedError,
    ConnectionState,
    Endpoint,
    RealtimeSession,
    Transport,
)
from realtime_nb.client.connection_state import transition
from realtime_nb.protocol import Dialect, SessionConfig, session_update


class MemoryTransport:
    """A `Transport` whose peer is the test: `push` a frame to the client, `next_sent` to read one."""

    name = "memory"

    def __init__(self) -> None:
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by_client = False
        self._incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def frames(self) -> AsyncIterator[str | bytes]:
        while (frame := await self._incoming.get()) is not None:
            yield frame

    async def send(self, text: str) -> None:
        if self.close_code is not None:
            raise ConnectionClosedError(self.close_code, self.close_reason)
        self._sent.put_nowait(json.loads(text))

    async def close(self) -> None:
        self.closed_by_client = True
        self.peer_close(1000, "")

    # the peer's side

    def push(self, frame: dict[str, Any] | str | bytes) -> None:
        self._incoming.put_nowait(json.dumps(frame) if isinstance(frame, dict) else frame)

    def peer_close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._incoming.put_nowait(None)

    async def next_sent(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._sent.get(), 5)


class MemorySession(RealtimeSession):
    def __init__(self, transport: MemoryTransport) -> None:
        super().__init__(Endpoint.local(), timeout=5)
        self.transport = transport

    async def _open_transport(self) -> Transport:
        return self.transport


def _created() -> dict[str, Any]:
    session = {**session_update(SessionConfig(), Dialect.GA)["session"], "id": "sess_mem"}
    return {"type": "session.created", "event_id": "event_srv_1", "session": session}


async def _open() -> tuple[MemorySession, MemoryTransport]:
    transport = MemoryTransport()
    transport.push(_created())
    session = MemorySession(transport)
    await session.connect()
    return session, transport


def test_the_memory_transport_satisfies_the_protocol() -> None:
    transport: Transport = MemoryTransport()  # a type checker holds this line to the Protocol
    assert transport.name == "memory"


async def test_a_session_runs_over_any_transport() -> None:
    session, transport = await _open()
    assert session.state is ConnectionState.OPEN and session.session_id == "sess_mem"
    assert session.config is not None
    commit = asyncio.create_task(session.commit())
    sent = await transport.next_sent()
    assert sent["type"] == "input_audio_buffer.commit" and sent["event_id"].startswith("event_")
    transport.push({"type": "input_audio_buffer.committed", "event_id": "event_srv_2", "item_id": "item_mem"})
    assert await commit == "item_mem"
    frame = session.log.frame()
    assert list(frame["type"]) == [
        "session.created",
        "input_audio_buffer.commit",
        "input_audio_buffer.committed",
    ]
    assert list(frame["direction"]) == ["received", "sent", "received"]
    await session.close()
    assert transport.closed_by_client and session.closed and session.close_code == 1000


async def test_a_bad_frame_is_a_protocol_error_and_the_transport_stays_open() -> None:
    session, transport = await _open()
    events = session.events()
    transport.push(b"\x00\x01")
    transport.push({"type": "input_audio_buffer.cleared", "event_id": "event_srv_3"})
    seen = [await asyncio.wait_for(anext(events), 5) for _ in range(2)]
    assert [e["type"] for e in seen] == [PROTOCOL_ERROR_EVENT, "input_audio_buffer.cleared"]
    assert not session.closed
    await session.close()


async def test_a_peer_close_reaches_pending_calls_listeners_and_the_log() -> None:
    session, transport = await _open()
    closed: list[dict[str, Any]] = []
    session.on(CONNECTION_CLOSED_EVENT, closed.append)
    pending = asyncio.create_task(session.wait_for("response.done"))
    await asyncio.sleep(0)
    transport.peer_close(4000, "bye")
    with pytest.raises(ConnectionClosedError) as info:
        await pending
    assert (info.value.code, info.value.reason) == (4000, "bye")
    assert closed == [{"type": CONNECTION_CLOSED_EVENT, "code": 4000, "reason": "bye"}]
    row = session.log.event_json(len(session.log) - 1)
    assert row["kind"] == "connection_closed" and row["message"].startswith(
        "memory connection closed by the peer"
    )
    with pytest.raises(ConnectionClosedError):
        await session.send({"type": "input_audio_buffer.clear"})
    await session.close()  # idempotent after a peer close
    assert not transport.closed_by_client


async def test_a_send_the_transport_refuses_waits_for_the_reader_and_raises_its_close() -> None:
    session, transport = await _open()
    transport.close_code, transport.close_reason = 1011, "gone"  # closed, the reader not told yet
    sending = asyncio.create_task(session.send({"type": "input_audio_buffer.clear"}))
    await asyncio.sleep(0)
    transport._incoming.put_nowait(None)  # now the frames end
    with pytest.raises(ConnectionClosedError) as info:
        await sending
    assert (info.value.code, info.value.reason) == (1011, "gone")


async def test_a_failed_open_leaves_the_session_closed() -> None:
    class Refused(MemorySession):
        async def _open_transport(self) -> Transport:
            raise OSError("no route")

    session = Refused(MemoryTransport())
    with pytest.raises(OSError):
        await session.connect()
    assert session.state is ConnectionState.CLOSED
    await session.close()  # nothing to close, no error


def test_connection_states_follow_their_table() -> None:
    assert transition(ConnectionState.NEW, ConnectionState.CONNECTING) is ConnectionState.CONNECTING
    with pytest.raises(RuntimeError, match="cannot go from"):
        transition(ConnectionState.CLOSED, ConnectionState.OPEN)
    with pytest.raises(RuntimeError, match="cannot go from"):
        transition(ConnectionState.CONNECTING, ConnectionState.CLOSING)


# ---- a seeded fuzz of what a hostile peer can send: the reader records everything and never stops ----

_BASE_EVENTS: list[dict[str, Any]] = [
    {
        "type": "response.created",
        "response": {"id": "resp_1", "object": "realtime.response", "status": "in_progress"},
    },
    {"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}},
    {"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_1", "delta": "AAAA"},
    {
        "type": "conversation.item.added",
        "item": {"id": "item_1", "type": "message", "role": "user", "content": []},
    },
    {"type": "input_audio_buffer.committed", "item_id": "item_1", "previous_item_id": None},
    {"type": "input_audio_buffer.speech_started", "audio_start_ms": 10, "item_id": "item_1"},
    {
        "type": "error",
        "error": {"type": "invalid_request_error", "code": "x", "message": "m", "event_id": "e"},
    },
    {"type": "rate_limits.updated", "rate_limits": [{"name": "requests", "limit": 1, "remaining": 0}]},
    {
        "type": "session.updated",
        "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm"}}}},
    },
]
_JUNK: list[Any] = [
    None,
    True,
    -1,
    1e308,
    "",
    "x" * 5000,
    [],
    {},
    [[[[[]]]]],
    {"type": {}},
    [{}],
    "\u0000\ud7ff",
]


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """`value` with one random member replaced, removed or retyped (or `value` itself replaced)."""
    if depth > 4 or not isinstance(value, dict | list) or not value or rng.random() < 0.25:
        return rng.choice(_JUNK)
    value = copy.deepcopy(value)
    key = rng.choice(list(value)) if isinstance(value, dict) else rng.randrange(len(value))
    if isinstance(value, dict) and rng.random() < 0.2:
        del value[key]
    else:
        value[key] = _mutate(rng, value[key], depth + 1)
    return value


def _hostile_frame(rng: random.Random) -> str | bytes:
    event = copy.deepcopy(rng.choice(_BASE_EVENTS))
    roll = rng.random()
    if roll < 0.05:
        return json.dumps(event)[: rng.randrange(1, 20)]  # cut short
    if roll < 0.08:
        return rng.randbytes(rng.randrange(1, 64))
    if roll < 0.11:
        return json.dumps(rng.choice(_JUNK))  # JSON, not an event
    if roll < 0.15:
        depth = rng.randrange(10_000, 100_000)  # deeper than json's decoder can recurse
        return '{"type": "error", "error": ' + "[" * depth + "]" * depth + "}"
    if roll < 0.18:
        event["type"] = rng.choice(["", "response.", "x" * 300, "session.created.extra"])
    mutated = _mutate(rng, {k: v for k, v in event.items() if k != "type"})
    if isinstance(mutated, dict):
        return json.dumps({"type": event["type"], **mutated})
    return json.dumps({"type": event["type"], "payload": mutated})


async def test_a_seeded_stream_of_hostile_frames_never_stops_the_reader(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(1234)
    session, transport = await _open()
    config = session.config
    listened: list[dict[str, Any]] = []
    session.on("*", listened.append)
    received_before = int((session.log.frame()["direction"] == "received").sum())
    count = 3000
    for _ in range(count):
        transport.push(_hostile_frame(rng))
    while not transport._incoming.empty() and not session.closed:  # let the reader take every frame
        await asyncio.sleep(0)
    marker = asyncio.create_task(session.wait_for("input_audio_buffer.cleared", timeout=5))
    await asyncio.sleep(0)
    transport.push({"type": "input_audio_buffer.cleared", "event_id": "event_marker"})
    assert (await marker)["event_id"] == "event_marker"  # the reader is alive after all of it
    assert not session.closed and session.listener_errors == 0
    frame = session.log.frame()
    assert int((frame["direction"] == "received").sum()) - received_before >= count + 1  # nothing lost
    assert len(listened) >= count  # every frame reached the listeners, as an event or a protocol error
    assert session.config is not None and config is not None  # a bad session.updated kept the config
    assert not [r for r in caplog.records if "reader stopped" in r.getMessage()]
    await session.close()
