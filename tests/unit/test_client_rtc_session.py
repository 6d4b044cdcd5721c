"""Choosing the transport: what RealtimeSession accepts and refuses before any connection is made,
and `config=` applied the same way over both transports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime_nb.client import Endpoint, RealtimeSession, Transport
from realtime_nb.protocol import Dialect, SessionConfig, session_update

KEY = "sk-" + "test-0123456789abcdef"  # fake; split so key scanners do not flag it


def test_webrtc_is_chosen_on_the_session_and_checked_up_front() -> None:
    ep = Endpoint.openai(api_key=KEY)
    assert RealtimeSession(ep).transport_name == "websocket"
    rtc = RealtimeSession(ep, transport="webrtc")
    assert (rtc.transport_name, rtc.flow) == ("webrtc", "ephemeral")
    assert RealtimeSession(ep, transport="webrtc", flow="unified").flow == "unified"
    assert "transport='webrtc'" in repr(rtc) and KEY not in repr(rtc)
    with pytest.raises(ValueError, match="transport must be one of"):
        RealtimeSession(ep, transport="sip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transport='webrtc'"):
        RealtimeSession(ep, flow="unified")
    with pytest.raises(ValueError, match="GA only"):
        preview = Endpoint.openai("m", dialect="preview", api_key=KEY)
        RealtimeSession(preview, transport="webrtc", flow="unified")
    with pytest.raises(ValueError, match="region="):
        azure = Endpoint.azure("dep", endpoint="res", api_version="2025-04-01-preview", api_key=KEY)
        RealtimeSession(azure, transport="webrtc")
    with pytest.raises(ValueError, match="sideband"):
        RealtimeSession(ep.sideband("rtc_1"), transport="webrtc")
    with pytest.raises(TypeError, match="SessionConfig"):
        RealtimeSession(ep, transport="webrtc", config={"voice": "marin"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="disconnect_grace_s"):
        RealtimeSession(ep, transport="webrtc", disconnect_grace_s=0)


class _Peer:
    """A `Transport` played by the test: answers session.update with session.updated."""

    name = "memory"

    def __init__(self) -> None:
        self.close_code: int | None = None
        self.close_reason = ""
        self.sent: list[dict[str, Any]] = []
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self._session = {**session_update(SessionConfig(), Dialect.GA)["session"], "id": "sess_1"}
        created = {"type": "session.created", "event_id": "e1", "session": self._session}
        self._incoming.put_nowait(json.dumps(created))

    async def frames(self) -> AsyncIterator[str | bytes]:
        while (frame := await self._incoming.get()) is not None:
            yield frame

    async def send(self, text: str) -> None:
        event = json.loads(text)
        self.sent.append(event)
        if event["type"] == "session.update":
            self._session = {**self._session, **event["session"]}
            reply = {"type": "session.updated", "event_id": "e2", "session": self._session}
            self._incoming.put_nowait(json.dumps(reply))

    async def close(self) -> None:
        self.close_code = 1000
        self._incoming.put_nowait(None)


async def test_config_over_a_websocket_is_applied_right_after_connect() -> None:
    peer = _Peer()

    class Session(RealtimeSession):
        async def _open_transport(self) -> Transport:
            return peer

    config = SessionConfig(instructions="Be brief.")
    async with Session(Endpoint.local(), config=config, timeout=5) as session:
        assert session.config is not None and session.config.instructions == "Be brief."
    assert [e["type"] for e in peer.sent] == ["session.update"]
