"""What the session does when the peer misbehaves or goes away, and that keys never leak."""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import traceback
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripted_peer import ScriptedPeer, peer_fixture, session_fixture  # noqa: F401  (fixtures)

from realtime_nb.client import (
    CONNECTION_CLOSED_EVENT,
    PROTOCOL_ERROR_EVENT,
    ConnectError,
    ConnectionClosedError,
    Endpoint,
    ProtocolError,
    RealtimeSession,
    ServerError,
)

KEY = "sk-" + "proj-SECRETsecret0123456789abcdef"  # fake; split so key scanners do not flag it


def _problems(session: RealtimeSession, kind: str) -> Any:
    frame = session.log.frame()
    return frame[frame["type"] == f"realtime_nb.{kind}"]


async def test_unknown_event_is_recorded_and_delivered(session: RealtimeSession, peer: ScriptedPeer) -> None:
    stream = session.events()
    await peer.send({"type": "response.future_feature", "event_id": "event_x", "value": 1})
    event = await asyncio.wait_for(anext(stream), 5)
    assert event == {"type": "response.future_feature", "event_id": "event_x", "value": 1}
    rows = _problems(session, "unknown_event")
    assert len(rows) == 1 and rows.iloc[0]["wire_type"] == "response.future_feature"
    await session.clear()  # the reader is still alive


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [("{not json", "malformed JSON"), ("[1, 2]", "not an event"), ('{"type": 5}', "not an event")],
)
async def test_malformed_frame_fails_pending_calls_and_reaches_iterators(
    session: RealtimeSession, peer: ScriptedPeer, raw: str, fragment: str
) -> None:
    stream = session.events()
    pending = asyncio.create_task(session.wait_for("response.done"))
    await asyncio.sleep(0)  # let the waiter register
    await peer.send_raw(raw)
    with pytest.raises(ProtocolError, match=fragment) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.raw == raw
    synthetic = await asyncio.wait_for(anext(stream), 5)
    assert synthetic["type"] == PROTOCOL_ERROR_EVENT and synthetic["raw"] == raw
    rows = _problems(session, "protocol_error")
    assert len(rows) == 1 and fragment in rows.iloc[0]["error_message"]
    assert not session.closed
    await session.clear()  # the connection stays usable


async def test_binary_frame_is_a_protocol_error(session: RealtimeSession, peer: ScriptedPeer) -> None:
    stream = session.events()
    await peer.send_raw(b"\x00\x01binary")
    synthetic = await asyncio.wait_for(anext(stream), 5)
    assert synthetic["type"] == PROTOCOL_ERROR_EVENT and "binary frame" in synthetic["message"]


async def test_error_without_event_id_is_delivered_not_raised(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    stream = session.events()
    error = {
        "type": "error",
        "event_id": "event_srv",
        "error": {"type": "server_error", "code": None, "message": "boom", "param": None, "event_id": None},
    }
    pending = asyncio.create_task(session.clear())
    await peer.send(error)
    await asyncio.wait_for(pending, 5)  # not failed by an error that names no event of ours
    types = [(await asyncio.wait_for(anext(stream), 5))["type"] for _ in range(2)]
    assert "error" in types


async def test_abrupt_drop_fails_waiters_ends_iteration_and_later_calls(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    closed_events: list[dict[str, Any]] = []
    session.on(CONNECTION_CLOSED_EVENT, closed_events.append)
    peer.hold_responses = True
    pending = asyncio.create_task(session.create_response(wait=True))
    await peer.wait_received("response.create")

    async def drain() -> list[str]:
        return [e["type"] async for e in session]

    iterating = asyncio.create_task(drain())
    await asyncio.sleep(0)
    await peer.drop()
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.code == 1006
    assert await asyncio.wait_for(iterating, 5) is not None  # iteration ended
    assert session.closed and session.close_code == 1006 and session.close_reason
    assert closed_events and closed_events[0]["code"] == 1006
    rows = _problems(session, "connection_closed")
    assert len(rows) == 1 and rows.iloc[0]["direction"] == "received"
    with pytest.raises(ConnectionClosedError) as again:
        await session.commit()
    assert again.value.code == 1006
    with pytest.raises(ConnectionClosedError):
        await session.append_audio(np.zeros(10, dtype=np.int16), 24000)
    assert [e async for e in session] == []  # a new iterator ends at once


async def test_peer_close_code_and_reason(session: RealtimeSession, peer: ScriptedPeer) -> None:
    pending = asyncio.create_task(session.wait_for("response.done"))
    await asyncio.sleep(0)
    await peer.close(4001, "going away for a test")
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(pending, 5)
    assert (info.value.code, info.value.reason) == (4001, "going away for a test")
    assert session.close_reason == "going away for a test"


async def test_client_close_is_recorded_and_idempotent(session: RealtimeSession) -> None:
    await session.close()
    await session.close()
    assert session.closed and session.close_code == 1000
    rows = _problems(session, "connection_closed")
    assert len(rows) == 1 and rows.iloc[0]["direction"] == "sent"
    with pytest.raises(ConnectionClosedError):
        await session.clear()


async def test_refused_dialect_at_connect_raises_server_error() -> None:
    async with ScriptedPeer("preview") as peer:
        peer.greeting = [
            {
                "type": "error",
                "event_id": "event_1",
                "error": {
                    "type": "invalid_request_error",
                    "code": "beta_api_shape_disabled",
                    "message": "The Realtime Beta API is no longer supported.",
                    "param": None,
                    "event_id": None,
                },
            }
        ]
        peer.close_after_greeting = (4000, "beta shape")
        session = RealtimeSession(Endpoint.local(peer.url, dialect="preview"), timeout=5)
        with pytest.raises(ServerError) as info:
            await session.connect()
        assert info.value.code == "beta_api_shape_disabled"
        assert session.closed


async def test_no_session_created_times_out() -> None:
    async with ScriptedPeer("ga", send_session_created=False) as peer:
        session = RealtimeSession(peer.url, timeout=0.2)
        with pytest.raises(TimeoutError, match=r"session\.created"):
            await session.connect()
        assert session.closed


async def test_connection_refused_names_the_engine() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    session = RealtimeSession(f"ws://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ConnectError, match="start_engine"):
        await session.connect()
    with pytest.raises(RuntimeError, match="new RealtimeSession"):
        await session.connect()


async def test_wait_for_timeout_names_the_event(session: RealtimeSession) -> None:
    with pytest.raises(TimeoutError, match=r"response\.done"):
        await session.wait_for("response.done", timeout=0.05)


# ---- keys: repr / str / exceptions / logs / the event log / a saved session -------------------------


async def test_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with ScriptedPeer("ga", token=KEY) as peer:
        endpoint = Endpoint.local(peer.url, token=KEY)
        texts = [repr(endpoint), str(endpoint), f"{endpoint}", str(endpoint.headers)]
        async with RealtimeSession(endpoint) as session:
            texts.append(repr(session))
            await session.update_session(instructions="hello")
            await session.create_text_message("hi")
            await session.create_response(wait=True)
            with pytest.raises(ServerError) as info:
                await session.delete_item("item_missing")
            texts.append("".join(traceback.format_exception(info.value)))
        # Our side's log (the scripted server's own log stands for the remote service and is left out).
        ours = [r for r in caplog.records if not r.name.startswith("websockets.server")]
        client_log = "\n".join(r.getMessage() for r in ours)
        assert "Authorization" in client_log  # the handshake really was logged, so this can fail
        texts.append(client_log)
        texts.append(session.log.frame().to_csv())
        texts += [str(session.log.event_json(i)) for i in range(len(session.log))]
        saved = session.log.save(tmp_path / "session.zip")
        with zipfile.ZipFile(saved) as archive:
            texts += [archive.read(name).decode("latin-1") for name in archive.namelist()]
        texts.append(saved.read_bytes().decode("latin-1"))

        wrong = RealtimeSession(Endpoint.local(peer.url, token=KEY + "-wrong"))
        with pytest.raises(ConnectError) as refused:
            await wrong.connect()
        assert refused.value.status == 401
        texts.append("".join(traceback.format_exception(refused.value)))
    for text in texts:
        assert KEY not in text
    with pytest.raises(TypeError):
        pickle.dumps(endpoint)


async def test_malformed_first_frame_fails_connect_and_closes() -> None:
    async with ScriptedPeer("ga") as peer:
        peer.greeting = []
        session = RealtimeSession(peer.url, timeout=5)
        connecting = asyncio.create_task(session.connect())
        await asyncio.wait_for(peer.connected.wait(), 5)
        await peer.send_raw("{oops")
        with pytest.raises(ProtocolError):
            await asyncio.wait_for(connecting, 5)
        assert session.closed


# ---- hostile peers: stalls, floods, garbage, a message cut by a close --------------------------------
# Each test bounds the call under test with an outer guard several times its own timeout: a hang shows
# as the guard's bare TimeoutError, which the `match=` of the expected, explained one does not accept.

GUARD_S = 30.0
RATE_LIMITS = {
    "type": "rate_limits.updated",
    "event_id": "event_flood",
    "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06}],
}


async def test_a_peer_that_stops_reading_makes_sends_time_out_not_hang() -> None:
    async with ScriptedPeer("ga") as peer:
        session = RealtimeSession(peer.url, timeout=1.0)
        await session.connect()
        peer.stop_reading()
        chunk = "A" * 4_000_000  # base64 of 3 MB; 20 of them are more than loopback buffers hold
        sent = 0
        with pytest.raises(TimeoutError, match="stopped reading"):
            for _ in range(20):
                await asyncio.wait_for(
                    session.send({"type": "input_audio_buffer.append", "audio": chunk}), GUARD_S
                )
                sent += 1
        assert sent < 20
        with pytest.raises(TimeoutError, match=r"input_audio_buffer\.committed|stopped reading"):
            await asyncio.wait_for(session.commit(timeout=0.5), GUARD_S)
        frame = session.log.frame()
        assert (frame["type"] == "input_audio_buffer.append").sum() == sent + 1  # each recorded once
        assert not session.closed  # a stall is not a close: the caller decides
        await peer.drop()
        await asyncio.wait_for(session.close(), GUARD_S)


async def test_closing_on_a_peer_that_stopped_reading_is_bounded_by_the_timeout() -> None:
    async with ScriptedPeer("ga") as peer:
        session = RealtimeSession(peer.url, timeout=0.5)
        await session.connect()
        peer.stop_reading()
        await asyncio.wait_for(session.close(), 5.0)  # websockets' own default would wait 10 s
        assert session.closed and len(_problems(session, "connection_closed")) == 1


async def test_a_response_that_stops_mid_stream_times_out(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    peer.hold_responses = True  # response.created, then nothing
    with pytest.raises(TimeoutError, match=r"not done within 0\.3 s"):
        await asyncio.wait_for(session.create_response(wait=True, timeout=0.3), GUARD_S)
    assert "response.created" in set(session.log.frame()["type"])
    await peer.finish_response()
    await session.clear()  # still usable


async def test_a_flood_is_recorded_whole_and_a_slow_iterator_reports_its_drops(
    session: RealtimeSession, peer: ScriptedPeer, caplog: pytest.LogCaptureFixture
) -> None:
    stream = session.events(maxsize=10, types=["rate_limits.updated"])
    before = len(session.log)
    flooding = asyncio.create_task(peer.flood(3000, RATE_LIMITS))
    with pytest.raises(TimeoutError, match=r"never\.arrives"):  # waiters still time out during a flood
        await asyncio.wait_for(session.wait_for("never.arrives", timeout=0.2), GUARD_S)
    await asyncio.wait_for(flooding, GUARD_S)
    await asyncio.wait_for(session.update_session(), GUARD_S)  # answered after the whole flood
    assert len(session.log) - before >= 3000 + 2  # every flooded event recorded, and the round trip
    assert stream.pending == 10 and stream.dropped == 2990
    assert any("dropped" in r.getMessage() and "EventLog" in r.getMessage() for r in caplog.records)


async def test_json_nested_too_deep_is_a_protocol_error_not_a_dead_reader(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    problems = session.events(types=[PROTOCOL_ERROR_EVENT])
    await peer.send_raw("[" * 200_000 + "]" * 200_000)
    await peer.send_raw('{"type": "error", "error": {"message": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    for _ in range(2):
        assert "nested too deeply" in (await asyncio.wait_for(anext(problems), GUARD_S))["message"]
    await asyncio.wait_for(session.clear(), GUARD_S)  # the reader is alive and still answers
    rows = _problems(session, "protocol_error")
    assert len(rows) == 2 and all("nested" in m for m in rows["error_message"])


async def test_events_of_the_wrong_shape_are_kept_in_the_log(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    await peer.send({"type": "response.created", "event_id": "event_bad", "response": "not an object"})
    await peer.send({"type": "session.updated", "event_id": "event_bad2", "session": ["nope"]})
    await asyncio.wait_for(session.clear(), GUARD_S)
    frame = session.log.frame()
    assert {"event_bad", "event_bad2"} <= set(frame["event_id"].dropna())  # recorded, not lost
    assert session.config is not None  # the config kept what it knew


async def test_a_huge_garbage_frame_is_recorded_bounded(session: RealtimeSession, peer: ScriptedPeer) -> None:
    problems = session.events(types=[PROTOCOL_ERROR_EVENT])
    await peer.send_raw("x" * 20_000_000)
    synthetic = await asyncio.wait_for(anext(problems), GUARD_S)
    assert "20000000" in synthetic["message"] and len(synthetic["raw"]) <= 2000
    await asyncio.wait_for(session.clear(), GUARD_S)  # still usable
    rows = _problems(session, "protocol_error")
    assert len(rows) == 1 and "20000000" in rows.iloc[0]["error_message"]
    kept = session.log.event_json(int(rows.iloc[0]["seq"]))["raw"]
    assert 0 < len(kept) <= 64 * 1024  # its start, not 20 MB of garbage per row


@pytest.mark.parametrize("how", ["drop", "close"])
async def test_a_message_cut_by_a_close_fails_waiters_and_keeps_the_log(
    session: RealtimeSession, peer: ScriptedPeer, how: str
) -> None:
    await peer.flood(3, RATE_LIMITS)
    pending = asyncio.create_task(session.wait_for("response.done", timeout=GUARD_S))
    await asyncio.sleep(0.1)
    await peer.send_first_fragment('{"type": "response.done", "response": {"id": "resp_')
    if how == "drop":
        await peer.drop()
    else:
        await peer.close(1000, "bye")
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(pending, GUARD_S)
    frame = session.log.frame()
    assert (frame["type"] == "rate_limits.updated").sum() == 3
    assert len(_problems(session, "connection_closed")) == 1
    assert "response.done" not in set(frame["type"])
