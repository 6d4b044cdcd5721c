"""The transport seam: a RealtimeSession runs unchanged over any `Transport`, here one held in memory.

No socket and no engine: the test plays the peer through the transport's two queues, which is what a
WebRTC data channel will have to provide to the same session core.
"""

from __future__ import annotations

import asyncio
import json
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
