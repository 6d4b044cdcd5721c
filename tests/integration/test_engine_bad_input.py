"""Bad input over a real socket: each gets an error event (naming the offending event_id) or a clean
close with a reason, and the session (and the engine) keep working afterwards.

Malformed frames cannot be sent through the SDK, so these tests speak raw websockets; every event
received is still validated against the SDK model of the dialect.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime_nb.engine import start_engine
from realtime_nb.protocol.dialect import Dialect

PATHS = {
    Dialect.GA: "/v1/realtime?model=gpt-realtime",
    Dialect.PREVIEW: "/openai/realtime?api-version=2025-04-01-preview&deployment=d",
}


class RawPeer:
    """A raw websockets client whose received events all go through the dialect's SDK models."""

    def __init__(self, ws: ClientConnection, dialect: Dialect, checker: Any, receive: Any) -> None:
        self.ws = ws
        self.dialect = dialect
        self.log = checker(dialect)
        self._receive = receive

    async def send(self, frame: str | bytes | dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    async def expect(self, wire_type: str) -> dict[str, Any]:
        return await self._receive(self.ws.recv, self.log, lambda e: e["type"] == wire_type)

    async def error(self, event_id: str | None, code: str | None = None) -> dict[str, Any]:
        error = (await self.expect("error"))["error"]
        assert error.get("event_id") == event_id, error
        assert error["message"]
        if code is not None:
            assert error["code"] == code, error
        return error

    async def still_works(self) -> None:
        await self.send({"type": "input_audio_buffer.clear", "event_id": "evt_alive"})
        await self.expect("input_audio_buffer.cleared")
        self.log.check_order()


@pytest.fixture
async def raw_peer(engine: Any, checker: Any, receive: Any) -> AsyncIterator[Any]:
    opened: list[ClientConnection] = []

    async def open_(dialect: Dialect = Dialect.GA) -> RawPeer:
        ws = await connect(engine.url + PATHS[dialect], max_size=None)
        opened.append(ws)
        peer = RawPeer(ws, dialect, checker, receive)
        await peer.expect("session.created")
        return peer

    yield open_
    for ws in opened:
        await ws.close()


DIALECTS = [Dialect.GA, Dialect.PREVIEW]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_text_that_is_not_json(raw_peer: Any, dialect: Dialect) -> None:
    peer = await raw_peer(dialect)
    await peer.send('{"type": "input_audio_buffer.clear", ')
    await peer.error(None, "invalid_json")
    await peer.send("[1, 2, 3]")
    await peer.error(None)
    await peer.still_works()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_binary_frame(raw_peer: Any, dialect: Dialect) -> None:
    peer = await raw_peer(dialect)
    await peer.send(b"\x00\x01\x02\x03")
    error = await peer.error(None)
    assert "base64" in error["message"]  # says how audio must travel instead
    await peer.still_works()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unknown_type_and_missing_type(raw_peer: Any, dialect: Dialect) -> None:
    peer = await raw_peer(dialect)
    await peer.send({"type": "response.make_it_so", "event_id": "evt_unknown"})
    await peer.error("evt_unknown", "invalid_value")
    await peer.send({"event_id": "evt_typeless"})
    await peer.error("evt_typeless")
    await peer.still_works()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_missing_and_ill_typed_fields(raw_peer: Any, dialect: Dialect) -> None:
    peer = await raw_peer(dialect)
    await peer.send({"type": "conversation.item.retrieve", "event_id": "evt_missing"})
    assert (await peer.error("evt_missing", "missing_required_parameter"))["param"].endswith("item_id")
    truncate = {"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 0}
    await peer.send({**truncate, "event_id": "evt_typed", "audio_end_ms": "soon"})
    assert (await peer.error("evt_typed", "invalid_type"))["param"].endswith("audio_end_ms")
    await peer.still_works()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_bad_audio_in_append(raw_peer: Any, dialect: Dialect) -> None:
    peer = await raw_peer(dialect)
    await peer.send({"type": "input_audio_buffer.append", "event_id": "evt_b64", "audio": "%%not base64%%"})
    await peer.error("evt_b64")
    odd = base64.b64encode(b"\x01\x02\x03").decode()
    await peer.send({"type": "input_audio_buffer.append", "event_id": "evt_odd", "audio": odd})
    assert "even" in (await peer.error("evt_odd"))["message"]
    # nothing of either reached the buffer: committing it is refused as empty
    await peer.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
    await peer.error("evt_commit")
    await peer.still_works()


async def test_append_over_15_mib_is_an_error_event_not_a_close(raw_peer: Any) -> None:
    peer = await raw_peer(Dialect.GA)
    audio = base64.b64encode(bytes(12 * 2**20)).decode()  # 16 MiB of base64
    await peer.send({"type": "input_audio_buffer.append", "event_id": "evt_huge", "audio": audio})
    assert "15 MiB" in (await peer.error("evt_huge"))["message"]
    await peer.still_works()


async def test_out_of_range_session_values_change_nothing(raw_peer: Any) -> None:
    peer = await raw_peer(Dialect.GA)
    bad = [
        ("evt_threshold", {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}}),
        ("evt_speed", {"audio": {"output": {"speed": 3}}}),
        ("evt_tokens", {"max_output_tokens": 99999}),
        ("evt_voice", {"audio": {"output": {"voice": 7}}}),
    ]
    for event_id, session in bad:
        await peer.send(
            {"type": "session.update", "event_id": event_id, "session": {"type": "realtime", **session}}
        )
        assert (await peer.error(event_id))["param"].startswith("session.")
    await peer.send({"type": "session.update", "event_id": "evt_ok", "session": {"type": "realtime"}})
    session = (await peer.expect("session.updated"))["session"]
    assert session["audio"]["input"]["turn_detection"]["threshold"] == 0.5
    assert session["audio"]["output"]["speed"] == 1.0
    await peer.still_works()


async def test_preview_out_of_range_values(raw_peer: Any) -> None:
    peer = await raw_peer(Dialect.PREVIEW)
    await peer.send({"type": "session.update", "event_id": "evt_temp", "session": {"temperature": 5}})
    assert (await peer.error("evt_temp"))["param"].startswith("session.")
    await peer.send(
        {
            "type": "session.update",
            "event_id": "evt_vad",
            "session": {"turn_detection": {"type": "server_vad", "silence_duration_ms": -1}},
        }
    )
    await peer.error("evt_vad")
    await peer.still_works()


async def test_session_expiry_closes_with_a_reason_and_later_events_go_nowhere(
    checker: Any, receive: Any
) -> None:
    with start_engine(max_session_s=0.5, preload=False) as short:
        ws = await connect(short.url + PATHS[Dialect.GA])
        log = checker(Dialect.GA)
        await receive(ws.recv, log, lambda e: e["type"] == "session.created")
        error = await receive(ws.recv, log, lambda e: e["type"] == "error", timeout=30)
        assert error["error"]["code"] == "session_expired"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "evt_late"}))
            await receive(ws.recv, log, lambda e: True, timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert "expired" in closed.value.rcvd.reason
        # the engine itself is fine: a new session opens
        async with connect(short.url + PATHS[Dialect.GA]) as again:
            assert json.loads(await asyncio.wait_for(again.recv(), 30))["type"] == "session.created"


# --------------------------------------------------------------------------------------------------
# Disconnects


async def _start_long_response(engine: Any) -> ClientConnection:
    """A session holding 5 s of uncommitted audio and speaking a long answer (first chunk received)."""
    ws = await connect(engine.url + PATHS[Dialect.GA], max_size=None)
    manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    await ws.send(json.dumps({"type": "session.update", "session": manual}))
    tone = (np.sin(np.arange(24000 * 5) * 2 * np.pi * 220 / 24000) * 3000).astype("<i2")
    for chunk in np.array_split(tone, 10):
        await ws.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
        )
    text = "Tell me a long story about a lighthouse keeper and his cat. " * 4
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "response.output_audio.delta":
        pass
    return ws


async def test_disconnect_mid_response_frees_everything(engine: Any) -> None:
    assert await asyncio.to_thread(engine.wait_idle, 30)
    (await _start_long_response(engine)).transport.abort()  # warm: first-use caches are not leaks
    assert await asyncio.to_thread(engine.wait_idle, 30)
    baseline_tasks = engine.stats()["tasks"]
    gc.collect()
    tracemalloc.start()
    try:
        # what one live session of this kind holds, to know what a leak would look like
        before = tracemalloc.get_traced_memory()[0]
        live = await _start_long_response(engine)
        footprint = tracemalloc.get_traced_memory()[0] - before
        live.transport.abort()  # no close frame: as a crashed notebook kernel
        assert await asyncio.to_thread(engine.wait_idle, 30), "a session outlived its socket"
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            (await _start_long_response(engine)).transport.abort()
            assert await asyncio.to_thread(engine.wait_idle, 30), "a session outlived its socket"
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = engine.stats()
    assert stats["connections"] == 0 and stats["pending_jobs"] == 0 and stats["jobs_in_flight"] == 0
    assert stats["tasks"] <= baseline_tasks
    assert footprint > 240_000  # half of the 5 s of pcm16 at least: the measure sees a session
    assert grown < footprint, (
        f"grew {grown / 2**20:.2f} MiB over 5 abandoned sessions of {footprint / 2**20:.2f} MiB"
    )
    async with connect(engine.url + PATHS[Dialect.GA]) as ws:  # and the engine still serves
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "session.created"


# --------------------------------------------------------------------------------------------------
# Hostile events (issue 12): each was a crash that closed the socket with 1011, or came back whole


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_hostile_events_get_short_errors_and_the_socket_stays_open(
    raw_peer: Any, dialect: Dialect
) -> None:
    peer = await raw_peer(dialect)
    deep = "[" * 10_000 + "]" * 10_000
    await peer.send(deep)
    assert (await peer.error(None, "json_too_deep"))["param"] is None
    await peer.send('{"type": "session.update", "event_id": "evt_deep", "session": ' + deep + "}")
    await peer.error("evt_deep", "json_too_deep")  # not parsed, yet its event_id is read
    item = {"type": "message", "role": {"x": []}, "content": [{"type": "input_text", "text": "hi"}]}
    await peer.send({"type": "conversation.item.create", "event_id": "evt_role", "item": item})
    assert (await peer.error("evt_role", "invalid_value"))["param"] == "item.role"
    await peer.send({"type": "z" * 2**20, "event_id": "evt_huge_type"})
    error = await peer.error("evt_huge_type", "invalid_value")
    assert len(error["message"]) < 600
    session = {"type": "realtime", "truncation": {"type": {}}} if dialect is Dialect.GA else {"voice": ["x"]}
    await peer.send({"type": "session.update", "event_id": "evt_shape", "session": session})
    await peer.error("evt_shape")
    await peer.still_works()
